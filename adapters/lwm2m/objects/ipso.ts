// IPSO Smart Objects 3300-3350 (OMA LwM2M registry, IPSO Alliance Smart Objects 1.0/2.0). IPSO
// resources are reusable: resource 5700 means "Sensor Value" (Float) in every object that has it,
// so the resources are one table and each object is the list of ids it uses.
// Written from memory, then checked object by object against OMA's own XML
// (github.com/OpenMobileAlliance/lwm2m-registry): every object 3300-3350 against its base file
// (NNNN.xml) and, where the registry has one, its version 1.1 file (NNNN-1_1.xml). Each list is
// the union of both versions, so a device of either version gets typed values: version 1.1 adds
// the timestamp (5518, 6050) and measurement-quality (6042, 6049) resources to most objects.
// Differences found and fixed: those additions; 3305 gained 5605; 3331 Energy reports 5700 (not
// 5805); 3350 has no 5523; 3346 Rate has 5821; 3310 has 5750; 5541/5542 (3344) are RW; 5912
// (3349) is a multiple resource; 3336's registry name is 'Location'. Operations are per table
// row; where an object differs (5534 Counter is RW in 3340), the row's wins.
import type { Row } from './model.ts';

export const IPSO_RESOURCES: readonly Row[] = [
  [5500, 'Digital Input State', 'B', 'R'], [5501, 'Digital Input Counter', 'I', 'R'], [5502, 'Digital Input Polarity', 'B', 'RW'],
  [5503, 'Digital Input Debounce', 'I', 'RW'], [5504, 'Digital Input Edge Selection', 'I', 'RW'], [5505, 'Digital Input Counter Reset', '-', 'E'],
  [5506, 'Current Time', 'T', 'RW'], [5507, 'Fractional Time', 'F', 'RW'],
  [5508, 'Min X Value', 'F', 'R'], [5509, 'Max X Value', 'F', 'R'], [5510, 'Min Y Value', 'F', 'R'], [5511, 'Max Y Value', 'F', 'R'],
  [5512, 'Min Z Value', 'F', 'R'], [5513, 'Max Z Value', 'F', 'R'],
  [5514, 'Latitude', 'S', 'R'], [5515, 'Longitude', 'S', 'R'], [5516, 'Uncertainty', 'S', 'R'], [5517, 'Velocity', 'O', 'R'], [5518, 'Timestamp', 'T', 'R'],
  [5519, 'Min Limit', 'F', 'R'], [5520, 'Max Limit', 'F', 'R'], [5521, 'Delay Duration', 'F', 'RW'], [5522, 'Clip', 'O', 'RW'],
  [5523, 'Trigger', '-', 'E'], [5524, 'Duration', 'F', 'RW'], [5525, 'Minimum Off-time', 'F', 'RW'], [5526, 'Timer Mode', 'I', 'RW'],
  [5527, 'Text', 'S', 'RW'], [5528, 'X Coordinate', 'I', 'RW'], [5529, 'Y Coordinate', 'I', 'RW'], [5530, 'Clear Display', '-', 'E'],
  [5531, 'Contrast', 'F', 'RW'], [5532, 'Increase Input State', 'B', 'R'], [5533, 'Decrease Input State', 'B', 'R'], [5534, 'Counter', 'I', 'R'],
  [5536, 'Current Position', 'F', 'RW'], [5537, 'Transition Time', 'F', 'RW'], [5538, 'Remaining Time', 'F', 'R'],
  [5541, 'Up Counter', 'I', 'RW'], [5542, 'Down Counter', 'I', 'RW'], [5543, 'Digital State', 'B', 'R'], [5544, 'Cumulative Time', 'F', 'RW'],
  [5545, 'Max X Coordinate', 'I', 'R'], [5546, 'Max Y Coordinate', 'I', 'R'], [5547, 'Multi-state Input', 'I', 'R'], [5548, 'Level', 'F', 'RW'],
  [5601, 'Min Measured Value', 'F', 'R'], [5602, 'Max Measured Value', 'F', 'R'], [5603, 'Min Range Value', 'F', 'R'], [5604, 'Max Range Value', 'F', 'R'],
  [5605, 'Reset Min and Max Measured Values', '-', 'E'],
  [5700, 'Sensor Value', 'F', 'R'], [5701, 'Sensor Units', 'S', 'R'], [5702, 'X Value', 'F', 'R'], [5703, 'Y Value', 'F', 'R'], [5704, 'Z Value', 'F', 'R'],
  [5705, 'Compass Direction', 'F', 'R'], [5706, 'Colour', 'S', 'RW'], [5750, 'Application Type', 'S', 'RW'], [5751, 'Sensor Type', 'S', 'R'],
  [5800, 'Instantaneous active power', 'F', 'R'], [5801, 'Min Measured active power', 'F', 'R'], [5802, 'Max Measured active power', 'F', 'R'],
  [5803, 'Min Range active power', 'F', 'R'], [5804, 'Max Range active power', 'F', 'R'], [5805, 'Cumulative active power', 'F', 'R'],
  [5806, 'Active Power Calibration', 'F', 'W'], [5810, 'Instantaneous reactive power', 'F', 'R'], [5811, 'Min Measured reactive power', 'F', 'R'],
  [5812, 'Max Measured reactive power', 'F', 'R'], [5813, 'Min Range reactive power', 'F', 'R'], [5814, 'Max Range reactive power', 'F', 'R'],
  [5815, 'Cumulative reactive power', 'F', 'R'], [5816, 'Reactive Power Calibration', 'F', 'W'], [5820, 'Power factor', 'F', 'R'],
  [5821, 'Current Calibration', 'F', 'RW'], [5822, 'Reset Cumulative energy', '-', 'E'], [5823, 'Event Identifier', 'S', 'RW'],
  [5824, 'Start Time', 'T', 'RW'], [5825, 'Duration In Min', 'I', 'RW'], [5826, 'Criticality Level', 'I', 'RW'],
  [5827, 'Avg Load AdjPct', 'I', 'RW'], [5828, 'Duty Cycle', 'I', 'RW'],
  [5850, 'On/Off', 'B', 'RW'], [5851, 'Dimmer', 'I', 'RW'], [5852, 'On Time', 'I', 'RW'], [5853, 'Multi-state Output', 'S', 'RW'], [5854, 'Off Time', 'I', 'RW'],
  [5900, 'Set Point Value', 'F', 'RW'], [5903, 'Busy to Clear delay', 'I', 'RW'], [5904, 'Clear to Busy delay', 'I', 'RW'],
  [5910, 'Bitmap Input', 'I', 'R'], [5911, 'Bitmap Input Reset', '-', 'E'], [5912, 'Element Description', 'S', 'RW', 1],
  [6042, 'Measurement Quality Indicator', 'I', 'R'], [6049, 'Measurement Quality Level', 'I', 'R'], [6050, 'Fractional Timestamp', 'F', 'R'],
];

/** Timestamp and fractional timestamp (version 1.1 of most objects). */
const TS = [5518, 6050];
/** Timestamp plus measurement quality indicator and level (version 1.1 of the sensor objects). */
const TSQ = [...TS, 6042, 6049];
const MEASURE = [5700, 5701, 5601, 5602, 5603, 5604, 5605, 5750, ...TSQ];
const CALIBRATED = [...MEASURE, 5821];
const AXES = [5702, 5703, 5704, 5701, 5603, 5604, 5750, ...TSQ];

/** [object id, name, resource ids]. Every IPSO object is multiple-instance. */
export const IPSO_OBJECTS: readonly (readonly [number, string, readonly number[]])[] = [
  [3300, 'Generic Sensor', [...MEASURE, 5751]], [3301, 'Illuminance', MEASURE], [3302, 'Presence', [5500, 5501, 5505, 5751, 5903, 5904, 5750, ...TSQ]],
  [3303, 'Temperature', MEASURE], [3304, 'Humidity', MEASURE],
  [3305, 'Power Measurement', [5800, 5801, 5802, 5803, 5804, 5805, 5806, 5810, 5811, 5812, 5813, 5814, 5815, 5816, 5820, 5821, 5822, 5605, 5750, ...TSQ]],
  [3306, 'Actuation', [5850, 5851, 5852, 5853, 5750, ...TS]], [3308, 'Set Point', [5900, 5701, 5706, 5750, ...TS]],
  [3310, 'Load Control', [5823, 5824, 5825, 5826, 5827, 5828, 5750, ...TS]], [3311, 'Light Control', [5850, 5851, 5852, 5805, 5820, 5706, 5701, 5750]],
  [3312, 'Power Control', [5850, 5851, 5852, 5805, 5820, 5750, ...TS]], [3313, 'Accelerometer', AXES], [3314, 'Magnetometer', [5702, 5703, 5704, 5705, 5701, 5750, ...TSQ]],
  [3315, 'Barometer', MEASURE], [3316, 'Voltage', CALIBRATED], [3317, 'Current', CALIBRATED], [3318, 'Frequency', CALIBRATED],
  [3319, 'Depth', CALIBRATED], [3320, 'Percentage', CALIBRATED], [3321, 'Altitude', CALIBRATED], [3322, 'Load', CALIBRATED],
  [3323, 'Pressure', CALIBRATED], [3324, 'Loudness', CALIBRATED], [3325, 'Concentration', CALIBRATED], [3326, 'Acidity', CALIBRATED],
  [3327, 'Conductivity', CALIBRATED], [3328, 'Power', CALIBRATED], [3329, 'Power Factor', CALIBRATED], [3330, 'Distance', CALIBRATED],
  [3331, 'Energy', [5700, 5701, 5822, 5750, ...TSQ]], [3332, 'Direction', [5705, 5601, 5602, 5605, 5750, ...TSQ]], [3333, 'Time', [5506, 5507, 5750, 6042, 6049]],
  [3334, 'Gyrometer', [5702, 5703, 5704, 5701, 5508, 5509, 5510, 5511, 5512, 5513, 5605, 5603, 5604, 5750, ...TSQ]], [3335, 'Colour', [5706, 5701, 5750, ...TSQ]],
  [3336, 'Location', [5514, 5515, 5516, 5705, 5517, 5750, ...TSQ]], [3337, 'Positioner', [5536, 5537, 5538, 5519, 5520, 5601, 5602, 5605, 5750, ...TSQ]],
  [3338, 'Buzzer', [5850, 5548, 5521, 5525, 5750, ...TS]], [3339, 'Audio Clip', [5522, 5523, 5548, 5524, 5750]],
  [3340, 'Timer', [5521, 5538, 5525, 5523, 5850, 5501, 5544, 5543, 5534, 5526, 5750]],
  [3341, 'Addressable Text Display', [5527, 5528, 5529, 5545, 5546, 5530, 5548, 5531, 5750]], [3342, 'On/Off switch', [5500, 5501, 5852, 5854, 5750, ...TS]],
  [3343, 'Dimmer', [5548, 5852, 5854, 5750]], [3344, 'Up/Down Control', [5532, 5533, 5541, 5542, 5750]],
  [3345, 'Multiple Axis Joystick', [5500, 5501, 5702, 5703, 5704, 5750]], [3346, 'Rate', CALIBRATED], [3347, 'Push button', [5500, 5501, 5750, ...TS]],
  [3348, 'Multi-state Selector', [5547, 5750, ...TS]], [3349, 'Bitmap', [5910, 5911, 5912, 5750, ...TS]], [3350, 'Stopwatch', [5544, 5850, 5501, 5750, ...TSQ]],
];
