// OMA LwM2M core objects 0-7 (OMA-TS-LightweightM2M-V1_1 appendix E / the OMA LwM2M registry),
// as compact data: [resource id, name, type, operations, multiple]. Executable resources have type '-'.
import type { Row } from './model.ts';

export interface ObjectData {
  id: number;
  name: string;
  multiple: boolean;
  rows: readonly Row[];
}

export const CORE_OBJECTS: readonly ObjectData[] = [
  {
    id: 0, name: 'LWM2M Security', multiple: true, rows: [
      [0, 'LWM2M  Server URI', 'S', ''], [1, 'Bootstrap-Server', 'B', ''], [2, 'Security Mode', 'I', ''],
      [3, 'Public Key or Identity', 'O', ''], [4, 'Server Public Key', 'O', ''], [5, 'Secret Key', 'O', ''],
      [6, 'SMS Security Mode', 'I', ''], [7, 'SMS Binding Key Parameters', 'O', ''], [8, 'SMS Binding Secret Key(s)', 'O', ''],
      [9, 'LwM2M Server SMS Number', 'S', ''], [10, 'Short Server ID', 'I', ''], [11, 'Client Hold Off Time', 'I', ''],
      [12, 'Bootstrap-Server Account Timeout', 'I', ''], [13, 'Matching Type', 'U', ''], [14, 'SNI', 'S', ''],
      [15, 'Certificate Usage', 'U', ''], [16, 'DTLS/TLS Ciphersuite', 'U', '', 1], [17, 'OSCORE Security Mode', 'L', ''],
    ],
  },
  {
    id: 1, name: 'LwM2M Server', multiple: true, rows: [
      [0, 'Short Server ID', 'I', 'R'], [1, 'Lifetime', 'I', 'RW'], [2, 'Default Minimum Period', 'I', 'RW'],
      [3, 'Default Maximum Period', 'I', 'RW'], [4, 'Disable', '-', 'E'], [5, 'Disable Timeout', 'I', 'RW'],
      [6, 'Notification Storing When Disabled or Offline', 'B', 'RW'], [7, 'Binding', 'S', 'RW'], [8, 'Registration Update Trigger', '-', 'E'],
      [9, 'Bootstrap-Request Trigger', '-', 'E'], [10, 'APN Link', 'L', 'RW'], [11, 'TLS-DTLS Alert Code', 'U', 'R'],
      [12, 'Last Bootstrapped', 'T', 'R'], [13, 'Registration Priority Order', 'U', 'RW'], [14, 'Initial Registration Delay Timer', 'U', 'RW'],
      [15, 'Registration Failure Block', 'B', 'RW'], [16, 'Bootstrap on Registration Failure', 'B', 'RW'], [17, 'Communication Retry Count', 'U', 'RW'],
      [18, 'Communication Retry Timer', 'U', 'RW'], [19, 'Communication Sequence Delay Timer', 'U', 'RW'], [20, 'Communication Sequence Retry Count', 'U', 'RW'],
      [21, 'Trigger', 'B', 'RW'], [22, 'Preferred Transport', 'S', 'RW'], [23, 'Mute Send', 'B', 'RW'],
    ],
  },
  {
    id: 2, name: 'LwM2M Access Control', multiple: true, rows: [
      [0, 'Object ID', 'I', 'R'], [1, 'Object Instance ID', 'I', 'R'], [2, 'ACL', 'I', 'RW', 1], [3, 'Access Control Owner', 'I', 'RW'],
    ],
  },
  {
    id: 3, name: 'Device', multiple: false, rows: [
      [0, 'Manufacturer', 'S', 'R'], [1, 'Model Number', 'S', 'R'], [2, 'Serial Number', 'S', 'R'], [3, 'Firmware Version', 'S', 'R'],
      [4, 'Reboot', '-', 'E'], [5, 'Factory Reset', '-', 'E'], [6, 'Available Power Sources', 'I', 'R', 1],
      [7, 'Power Source Voltage', 'I', 'R', 1], [8, 'Power Source Current', 'I', 'R', 1], [9, 'Battery Level', 'I', 'R'],
      [10, 'Memory Free', 'I', 'R'], [11, 'Error Code', 'I', 'R', 1], [12, 'Reset Error Code', '-', 'E'], [13, 'Current Time', 'T', 'RW'],
      [14, 'UTC Offset', 'S', 'RW'], [15, 'Timezone', 'S', 'RW'], [16, 'Supported Binding and Modes', 'S', 'R'], [17, 'Device Type', 'S', 'R'],
      [18, 'Hardware Version', 'S', 'R'], [19, 'Software Version', 'S', 'R'], [20, 'Battery Status', 'I', 'R'], [21, 'Memory Total', 'I', 'R'],
      [22, 'ExtDevInfo', 'L', 'R', 1],
    ],
  },
  {
    id: 4, name: 'Connectivity Monitoring', multiple: false, rows: [
      [0, 'Network Bearer', 'I', 'R'], [1, 'Available Network Bearer', 'I', 'R', 1], [2, 'Radio Signal Strength', 'I', 'R'], [3, 'Link Quality', 'I', 'R'],
      [4, 'IP Addresses', 'S', 'R', 1], [5, 'Router IP Addresses', 'S', 'R', 1], [6, 'Link Utilization', 'I', 'R'], [7, 'APN', 'S', 'R', 1],
      [8, 'Cell ID', 'I', 'R'], [9, 'SMNC', 'I', 'R'], [10, 'SMCC', 'I', 'R'], [11, 'SignalSNR', 'I', 'R'], [12, 'LAC', 'I', 'R'],
    ],
  },
  {
    id: 5, name: 'Firmware Update', multiple: false, rows: [
      [0, 'Package', 'O', 'W'], [1, 'Package URI', 'S', 'RW'], [2, 'Update', '-', 'E'], [3, 'State', 'I', 'R'],
      [4, 'Update Supported Objects', 'B', 'RW'], [5, 'Update Result', 'I', 'R'], [6, 'PkgName', 'S', 'R'], [7, 'PkgVersion', 'S', 'R'],
      [8, 'Firmware Update Protocol Support', 'I', 'R', 1], [9, 'Firmware Update Delivery Method', 'I', 'R'],
    ],
  },
  {
    id: 6, name: 'Location', multiple: false, rows: [
      [0, 'Latitude', 'F', 'R'], [1, 'Longitude', 'F', 'R'], [2, 'Altitude', 'F', 'R'], [3, 'Radius', 'F', 'R'],
      [4, 'Velocity', 'O', 'R'], [5, 'Timestamp', 'T', 'R'], [6, 'Speed', 'F', 'R'],
    ],
  },
  {
    id: 7, name: 'Connectivity Statistics', multiple: false, rows: [
      [0, 'SMS Tx Counter', 'I', 'R'], [1, 'SMS Rx Counter', 'I', 'R'], [2, 'Tx Data', 'I', 'R'], [3, 'Rx Data', 'I', 'R'],
      [4, 'Max Message Size', 'I', 'R'], [5, 'Average Message Size', 'I', 'R'], [6, 'Start', '-', 'E'], [7, 'Stop', '-', 'E'],
      [8, 'Collection Period', 'I', 'RW'],
    ],
  },
];
