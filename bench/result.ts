/** One row of `bench/results/latest.json`. `ratio` = value / baseline, both measured in the same run. */
export interface Result {
  scenario: string;
  metric: string;
  /** The median when the scenario ran rounds. */
  value: number;
  unit: string;
  baseline?: number;
  ratio?: number;
  /** Range over the rounds (value is their median). */
  min?: number;
  max?: number;
  /** What the ratio means, printed under the table: "fieldgate / Mosquitto, higher is better". */
  means?: string;
}

export interface Scenario {
  name: string;
  /** One line on what is measured and against what. */
  description?: string;
  run(): Promise<Result[]>;
}

export function withRatio(r: Omit<Result, 'ratio'>): Result {
  return r.baseline ? { ...r, ratio: Math.round((r.value / r.baseline) * 1000) / 1000 } : r;
}
