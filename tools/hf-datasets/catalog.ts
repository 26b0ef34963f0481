import type { Format, GrpoMapping, SftMapping } from "./mapping.ts";
import { TASK_INFO, TASKS } from "../../lib/generators/generate.ts";

/**
 * The built-in catalog: the usual first datasets with their real shapes, licenses
 * and a few hand-written sample rows (so inspection and mapping work offline), plus
 * ready-made mappings ("presets"), and the offline generators.
 */

export type Preset = { name: string; format: Format; mapping: GrpoMapping | SftMapping; note?: string };

export type CatalogDataset = {
  id: string;
  description: string;
  license: string;
  commercialUse: boolean;
  tags: string[];
  /** config → split → number of rows on the Hub. */
  configs: Record<string, Record<string, number>>;
  features: Record<string, string>;
  /** Hand-written rows in the dataset's shape (not copied from the dataset). */
  sampleRows: Array<Record<string, unknown>>;
  presets: Preset[];
};

const GSM8K_GT_REGEX = "####\\s*(-?[0-9.,]+)";

export const CATALOG: CatalogDataset[] = [
  {
    id: "openai/gsm8k",
    description: "Grade-school math word problems with worked solutions ending in '#### <answer>'.",
    license: "mit",
    commercialUse: true,
    tags: ["math", "word problems", "reasoning", "grpo", "task_categories:text2text-generation", "language:en"],
    configs: { main: { train: 7473, test: 1319 }, socratic: { train: 7473, test: 1319 } },
    features: { question: "string", answer: "string" },
    sampleRows: [
      {
        question: "A baker makes 4 trays of 12 rolls and sells 30. How many rolls are left?",
        answer: "4 trays hold 4*12=<<4*12=48>>48 rolls.\nAfter selling, 48-30=<<48-30=18>>18 remain.\n#### 18",
      },
      {
        question: "Mia reads 15 pages a day. How many pages does she read in 2 weeks?",
        answer: "Two weeks are 2*7=<<2*7=14>>14 days.\nShe reads 15*14=<<15*14=210>>210 pages.\n#### 210",
      },
      { question: "A bike costs $1,250 and a helmet $85. What do both cost?", answer: "1,250+85=<<1250+85=1335>>1,335\n#### 1,335" },
    ],
    presets: [
      {
        name: "gsm8k-grpo",
        format: "grpo",
        mapping: {
          prompt: '{question}\n\nShow your work, then give the final answer after "####".',
          ground_truth: "{answer}",
          ground_truth_regex: GSM8K_GT_REGEX,
          ground_truth_transforms: ["remove_commas"],
        },
      },
      { name: "gsm8k-sft", format: "sft", mapping: { prompt: "{question}", response: "{answer|strip_calc}" } },
    ],
  },
  {
    id: "google-research-datasets/mbpp",
    description: "Mostly Basic Python Problems: short tasks with three assert-based tests each.",
    license: "cc-by-4.0",
    commercialUse: true,
    tags: ["code", "python", "grpo", "task_categories:text2text-generation", "language:en"],
    configs: { full: { train: 374, test: 500, validation: 90, prompt: 10 }, sanitized: { train: 120, test: 257, validation: 43, prompt: 7 } },
    features: { task_id: "int32", text: "string", code: "string", test_list: "list<string>", test_setup_code: "string", challenge_test_list: "list<string>" },
    sampleRows: [
      {
        task_id: 9001,
        text: "Write a function to return the larger of two numbers.",
        code: "def bigger(a, b):\n    return a if a > b else b",
        test_list: ["assert bigger(1, 2) == 2", "assert bigger(5, 3) == 5", "assert bigger(4, 4) == 4"],
        test_setup_code: "",
        challenge_test_list: [],
      },
      {
        task_id: 9002,
        text: "Write a function to count the vowels in a string.",
        code: "def vowels(s):\n    return sum(c in 'aeiou' for c in s.lower())",
        test_list: ["assert vowels('apple') == 2", "assert vowels('xyz') == 0", "assert vowels('AEIOU') == 5"],
        test_setup_code: "",
        challenge_test_list: [],
      },
    ],
    presets: [
      {
        name: "mbpp-grpo",
        format: "grpo",
        mapping: { prompt: '{text}\nYour code should pass these tests:\n{test_list|join:"\\n"}', ground_truth: "{test_list|json}" },
        note: "ground_truth is a JSON list of assert statements; the reward must run them in its own sandboxed way or compare by pattern",
      },
    ],
  },
  {
    id: "openai/openai_humaneval",
    description: "164 hand-written Python programming problems with unit tests (evaluation only).",
    license: "mit",
    commercialUse: true,
    tags: ["code", "python", "eval", "language:en"],
    configs: { openai_humaneval: { test: 164 } },
    features: { task_id: "string", prompt: "string", canonical_solution: "string", test: "string", entry_point: "string" },
    sampleRows: [
      {
        task_id: "Demo/0",
        prompt: 'def add(a: int, b: int) -> int:\n    """Return a + b."""\n',
        canonical_solution: "    return a + b\n",
        test: "def check(f):\n    assert f(1, 2) == 3\n",
        entry_point: "add",
      },
    ],
    presets: [
      {
        name: "humaneval-eval",
        format: "grpo",
        mapping: { prompt: "{prompt}", ground_truth: "{test}\ncheck({entry_point})" },
        note: "test split only: use it for evaluation, never for training",
      },
    ],
  },
  {
    id: "databricks/databricks-dolly-15k",
    description: "15k human-written instruction/response pairs across brainstorming, QA, summarization and more.",
    license: "cc-by-sa-3.0",
    commercialUse: true,
    tags: ["instruction", "sft", "chat", "task_categories:text-generation", "language:en"],
    configs: { default: { train: 15011 } },
    features: { instruction: "string", context: "string", response: "string", category: "string" },
    sampleRows: [
      { instruction: "Name three primary colours.", context: "", response: "Red, blue and yellow.", category: "brainstorming" },
      {
        instruction: "When was the bridge opened?",
        context: "The bridge opened to traffic in 1932 after six years of work.",
        response: "It opened in 1932.",
        category: "closed_qa",
      },
    ],
    presets: [{ name: "dolly-sft", format: "sft", mapping: { prompt: '{instruction}{context|prefix:"\\n\\nContext:\\n"}', response: "{response}" } }],
  },
  {
    id: "tatsu-lab/alpaca",
    description: "52k instruction-following examples generated with text-davinci-003 (non-commercial).",
    license: "cc-by-nc-4.0",
    commercialUse: false,
    tags: ["instruction", "sft", "task_categories:text-generation", "language:en"],
    configs: { default: { train: 52002 } },
    features: { instruction: "string", input: "string", output: "string", text: "string" },
    sampleRows: [
      { instruction: "Give a synonym for 'quick'.", input: "", output: "Fast.", text: "" },
      { instruction: "Translate to French.", input: "Good morning", output: "Bonjour", text: "" },
    ],
    presets: [
      { name: "alpaca-sft", format: "sft", mapping: { prompt: '{instruction}{input|prefix:"\\n\\n"}', response: "{output}" }, note: "non-commercial license" },
    ],
  },
  {
    id: "HuggingFaceH4/no_robots",
    description: "10k human-written chat demonstrations (non-commercial).",
    license: "cc-by-nc-4.0",
    commercialUse: false,
    tags: ["chat", "sft", "instruction", "task_categories:text-generation", "language:en"],
    configs: { default: { train: 9500, test: 500 } },
    features: { prompt: "string", prompt_id: "string", messages: "list<struct{content: string, role: string}>", category: "string" },
    sampleRows: [
      {
        prompt: "Write a two-line poem about rain.",
        prompt_id: "demo1",
        messages: [
          { role: "user", content: "Write a two-line poem about rain." },
          { role: "assistant", content: "Soft rain taps the glass,\nthe garden drinks and sighs." },
        ],
        category: "Generation",
      },
    ],
    presets: [
      {
        name: "norobots-sft",
        format: "sft",
        mapping: { prompt: "{messages[role=user][0].content}", response: "{messages[role=assistant][-1].content}" },
        note: "non-commercial license",
      },
    ],
  },
  {
    id: "Jiayi-Pan/Countdown-Tasks-3to4",
    description: "Countdown puzzles: reach a target from 3-4 numbers (no license declared: prefer the countdown generator).",
    license: "unknown",
    commercialUse: false,
    tags: ["math", "puzzle", "countdown", "grpo"],
    configs: { default: { train: 490364 } },
    features: { target: "int64", nums: "list<int64>" },
    sampleRows: [
      { target: 24, nums: [4, 6, 1] },
      { target: 53, nums: [7, 8, 3, 2] },
    ],
    presets: [
      {
        name: "countdown-grpo",
        format: "grpo",
        mapping: { prompt: 'Make {target} from {nums|join:" "} using + - *', ground_truth: '{{"target": {target}, "numbers": {nums|json}}}' },
      },
    ],
  },
];

export function findCatalogDataset(id: string): CatalogDataset | undefined {
  const want = id.toLowerCase();
  return CATALOG.find((d) => d.id.toLowerCase() === want || d.id.toLowerCase().split("/")[1] === want);
}

export function findPreset(name: string): { dataset: CatalogDataset; preset: Preset } | undefined {
  for (const dataset of CATALOG) {
    const preset = dataset.presets.find((p) => p.name === name);
    if (preset) return { dataset, preset };
  }
  return undefined;
}

/** Catalog datasets matching any word of the query, best first. */
export function searchCatalog(query: string): CatalogDataset[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return [...CATALOG];
  const scored = CATALOG.map((d) => {
    const hay = `${d.id} ${d.description} ${d.tags.join(" ")}`.toLowerCase();
    return { d, score: words.filter((w) => hay.includes(w)).length };
  }).filter((x) => x.score > 0);
  return scored.sort((a, b) => b.score - a.score).map((x) => x.d);
}

export function generatorEntries() {
  return TASKS.map((t) => ({ ...TASK_INFO[t], license: "generated (no license needed)" }));
}

/** Licenses that forbid commercial use, or that are not declared. */
export function licenseWarning(license: string | undefined): string | undefined {
  if (!license || license === "unknown" || license === "other") return "The dataset declares no license: check its terms before using it.";
  if (/-nc\b|-nc-|noncommercial|non-commercial/i.test(license)) return `License ${license} forbids commercial use.`;
  return undefined;
}
