// The object model: built-in definitions, OMA DDF XML files (EMQX's xml_dir) and their errors.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../../gateway/test/helpers.ts';
import { parseDdf } from './ddf.ts';
import { builtinModel, loadModel } from './index.ts';

// Shaped like the files in OMA's registry (trimmed): a comment, CDATA, entities, an executable.
const VENDOR = `<?xml version="1.0" encoding="utf-8"?>
<!-- vendor object -->
<LWM2M xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="http://openmobilealliance.org/tech/profiles/LWM2M.xsd">
  <Object ObjectType="MODefinition">
    <Name>Water &amp; Meter</Name>
    <Description1><![CDATA[Counts <litres>.]]></Description1>
    <ObjectID>31024</ObjectID>
    <ObjectURN>urn:oma:lwm2m:x:31024</ObjectURN>
    <MultipleInstances>Multiple</MultipleInstances>
    <Mandatory>Optional</Mandatory>
    <Resources>
      <Item ID="1"><Name>Label</Name><Operations>RW</Operations><MultipleInstances>Single</MultipleInstances><Mandatory>Mandatory</Mandatory><Type>String</Type><RangeEnumeration/><Units/><Description>x</Description></Item>
      <Item ID="2"><Name>Litres</Name><Operations>R</Operations><MultipleInstances>Multiple</MultipleInstances><Mandatory>Optional</Mandatory><Type>Unsigned Integer</Type><Units>l</Units></Item>
      <Item ID="3"><Name>Flush</Name><Operations>E</Operations><MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory><Type></Type></Item>
    </Resources>
    <Description2></Description2>
  </Object>
</LWM2M>`;

test('built-in model: OMA core 0-7 and IPSO 3300-3350 with typed resources', () => {
  const m = builtinModel();
  for (let id = 0; id <= 7; id++) assert.ok(m.has(id), `object ${id}`);
  assert.equal(m.typeOf([3, 0, 13]), 'Time');
  assert.equal(m.typeOf([3, 0, 6, 1]), 'Integer');
  assert.equal(m.typeOf([5, 0, 0]), 'Opaque');
  assert.equal(m.typeOf([3303, 2, 5700]), 'Float');
  assert.equal(m.typeOf([3306, 0, 5850]), 'Boolean');
  assert.equal(m.resource(3, 4)?.operations, 'E');
  assert.equal(m.object(3)?.multiple, false);
  assert.equal(m.ids().filter((id) => id >= 3300 && id <= 3350).length, 49);
  assert.equal(m.typeOf([31024, 0, 1]), undefined);
  // Checked against OMA's registry XML (OpenMobileAlliance/lwm2m-registry 3302, 3305, 3306, 3331, 3350 .xml).
  assert.equal(m.typeOf([3302, 0, 6042]), 'Integer');
  assert.equal(m.typeOf([3302, 0, 5518]), 'Time');
  assert.equal(m.typeOf([3306, 0, 6050]), 'Float');
  assert.equal(m.resource(3305, 5605)?.operations, 'E');
  assert.equal(m.typeOf([3331, 0, 5700]), 'Float', '3331.xml: Energy reports Sensor Value');
  assert.equal(m.resource(3350, 5523), undefined, '3350.xml: Stopwatch has no Trigger');
});

test('IPSO lists match OMA registry XML, base and 1.1 versions (OpenMobileAlliance/lwm2m-registry NNNN.xml, NNNN-1_1.xml)', () => {
  const m = builtinModel();
  const ids = (o: number): number[] => [...(m.object(o)?.resources.keys() ?? [])].sort((a, b) => a - b);
  // 3304.xml + 3304-1_1.xml: the measurement resources, then 1.1's timestamp and quality resources.
  assert.deepEqual(ids(3304), [5518, 5601, 5602, 5603, 5604, 5605, 5700, 5701, 5750, 6042, 6049, 6050]);
  assert.deepEqual(ids(3346), [5518, 5601, 5602, 5603, 5604, 5605, 5700, 5701, 5750, 5821, 6042, 6049, 6050], '3346.xml: Rate has Current Calibration');
  assert.deepEqual(ids(3335), [5518, 5701, 5706, 5750, 6042, 6049, 6050]);
  assert.deepEqual(ids(3348), [5518, 5547, 5750, 6050]);
  assert.deepEqual(ids(3343), [5548, 5750, 5852, 5854]);
  assert.deepEqual(ids(3345), [5500, 5501, 5702, 5703, 5704, 5750]);
  assert.deepEqual(ids(3310), [5518, 5750, 5823, 5824, 5825, 5826, 5827, 5828, 6050], '3310-1_1.xml');
  assert.equal(m.typeOf([3303, 0, 5518]), 'Time', '3303-1_1.xml');
  assert.equal(m.typeOf([3317, 0, 6049]), 'Integer', '3317-1_1.xml');
  assert.equal(m.typeOf([3330, 0, 5821]), 'Float');
  assert.equal(m.typeOf([3333, 0, 6042]), 'Integer', '3333-1_1.xml');
  assert.equal(m.resource(3344, 5541)?.operations, 'RW', '3344.xml: Up Counter is writable (0 resets it)');
  assert.equal(m.resource(3344, 5542)?.operations, 'RW');
  assert.equal(m.resource(3349, 5912)?.multiple, true, '3349.xml: Element Description has one instance per bit');
  assert.equal(m.typeOf([3349, 0, 5912, 3]), 'String');
  assert.equal(m.resource(3349, 5911)?.operations, 'E');
});

test('DDF: names, entities, instances, types, executable; vendor files from xml_dir override built-ins', () => {
  const [o] = parseDdf(VENDOR, 'water.xml');
  assert.equal(o?.id, 31024);
  assert.equal(o?.name, 'Water & Meter');
  assert.equal(o?.multiple, true);
  assert.deepEqual([...o!.resources.values()].map((r) => [r.id, r.type, r.operations, r.multiple]), [[1, 'String', 'RW', false], [2, 'Unsigned Integer', 'R', true], [3, 'none', 'E', false]]);
  const dir = tempDir('lwm2m-xml-');
  try {
    writeFileSync(join(dir.path, 'water.xml'), VENDOR);
    writeFileSync(join(dir.path, 'device.xml'), VENDOR.replace('<ObjectID>31024', '<ObjectID>3').replace('Unsigned Integer', 'Float'));
    writeFileSync(join(dir.path, 'notes.txt'), 'not xml');
    const { model, files } = loadModel(dir.path);
    assert.deepEqual(files, ['device.xml', 'water.xml']);
    assert.equal(model.typeOf([31024, 0, 2, 0]), 'Unsigned Integer');
    assert.equal(model.typeOf([3, 0, 2]), 'Float', 'a vendor file replaces the built-in object 3');
    assert.equal(model.typeOf([3, 0, 13]), undefined);
  } finally {
    dir.remove();
  }
});

test('DDF errors name the file and what is wrong', () => {
  assert.throws(() => parseDdf('<html></html>', 'a.xml'), /a\.xml: no <Object> element/);
  assert.throws(() => parseDdf('<LWM2M><Object><ObjectID>x</ObjectID></Object></LWM2M>', 'b.xml'), /b\.xml: object 1 has no valid <ObjectID>/);
  assert.throws(() => parseDdf(VENDOR.replace('<Type>String</Type>', '<Type>Strin</Type>'), 'c.xml'), /c\.xml: object 31024 resource 1 has unknown Type "Strin"/);
  assert.throws(() => loadModel('/nonexistent/lwm2m'), /xml_dir: cannot read \/nonexistent\/lwm2m/);
});
