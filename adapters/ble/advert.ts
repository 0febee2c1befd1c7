import type { Advert } from './decoders/index.ts';
import type { Peripheral } from './radio.ts';

/** noble's peripheral (as last merged by noble) as the decoders' Advert. */
export function advertOf(p: Peripheral): Advert {
  const a = p.advertisement ?? ({} as Peripheral['advertisement']);
  // On Linux `address` is aa:bb:..; elsewhere noble may only know an opaque id.
  const address = (p.address && p.address !== 'unknown' ? p.address : p.id).toLowerCase();
  return {
    address,
    name: a.localName || undefined,
    manufacturerData: a.manufacturerData && a.manufacturerData.length > 0 ? a.manufacturerData : undefined,
    serviceData: (a.serviceData ?? []).map((s) => ({ uuid: s.uuid, data: s.data })),
    rssi: p.rssi,
  };
}

/** The device id used in topics and the registry: the address without colons, lower case (as OpenMQTTGateway's topics). */
export function deviceId(address: string): string {
  return address.replace(/:/g, '').toLowerCase();
}
