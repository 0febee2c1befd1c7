import mqttPacket from 'mqtt-packet';

// mqtt-packet otherwise builds a cache of 65,536 two-byte Buffers on its first write: 6 MB of
// heap and 65k objects that every full GC walks again, for a small saving per packet id. On a
// gateway sized for a Pi that trade is the wrong way round (bench/scenarios footprint and
// bridge-backlog measure it).
//
// The switch is a property of the mqtt-packet module, so it holds for the whole process: aedes
// (the broker) and MQTT.js (the bridge's upstream connections) resolve the same single copy
// (package.json declares mqtt-packet; packet-cache.test.ts fails if either gets its own). That is
// intended: both then write packet ids without the cache, which changes no byte on the wire
// (the same test compares the encodings).

/** Turns mqtt-packet's number cache off for every user in this process (idempotent). */
export function disablePacketNumberCache(): void {
  mqttPacket.writeToStream.cacheNumbers = false;
}

export function packetNumberCacheEnabled(): boolean {
  return mqttPacket.writeToStream.cacheNumbers;
}
