// `npm run sim -- <protocol> [options]`: one entry point for every device simulator. Each protocol
// adds one line to SIMS; its module exports main(argv) -> exit code.
const SIMS: Record<string, { about: string; load: () => Promise<{ main(argv: string[]): Promise<number> }> }> = {
  coap: { about: 'CoAP sensors (EMQX /ps scheme): publish JSON readings, observe downlinks', load: () => import('./coap/cli.ts') },
  ble: { about: 'BLE sensors and beacons at noble\'s bindings seam, with a gateway that scans them', load: () => import('./ble/cli.ts') },
  lwm2m: { about: 'LwM2M devices (Device 3, Temperature 3303, Firmware 5): register, answer commands, notify', load: () => import('./lwm2m/cli.ts') },
  lora: { about: 'a RAK3172 or RN2483 LoRa module on a pty, with field nodes transmitting to it', load: () => import('./modem/cli.ts') },
  nbiot: { about: 'a BC95 or BG96 NB-IoT module on a pty, with a CoAP meter on the operator network behind it', load: () => import('./modem/nbiot-cli.ts') },
};

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const sim = name ? SIMS[name] : undefined;
  if (!sim) {
    const list = Object.entries(SIMS).map(([n, s]) => `  ${n.padEnd(8)} ${s.about}`).join('\n');
    process.stderr.write(`${name && name !== '--help' && name !== '-h' ? `unknown simulator "${name}"\n\n` : ''}usage: npm run sim -- <simulator> [options]   (add --help for its options)\n\n${list}\n`);
    return name && name !== '--help' && name !== '-h' ? 2 : 0;
  }
  return (await sim.load()).main(rest);
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`simulator failed: ${err.message}\n`);
    process.exit(1);
  },
);
