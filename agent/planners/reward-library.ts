/**
 * Reward functions the scripted planner writes, with the hand-made cases it validates
 * each one against (a right answer scores 1, a wrong one 0 — or the partial credit —,
 * garbage 0). Pure standard-library Python.
 */

export type RewardCase = { completion: string; ground_truth: string; expected: number };
export type RewardSpec = { name: string; partial: boolean; code: string; cases: RewardCase[]; note: string };

const NUMERIC = (partial: number) => `import re

def compute_reward(completion, ground_truth):
    """1.0 for the exact number (the first number in the completion)${partial ? `, ${partial} for a wrong but well-formed number` : ""}."""
    try:
        m = re.search(r"-?\\d[\\d,]*(\\.\\d+)?", completion)
        if not m:
            return 0.0
        got = float(m.group(0).replace(",", ""))
        want = float(str(ground_truth).split("####")[-1].replace(",", "").strip())
        return 1.0 if abs(got - want) < 1e-9 else ${partial.toFixed(2)}
    except Exception:
        return 0.0
`;

const LAST_NUMBER = (partial: number) => `import re

def compute_reward(completion, ground_truth):
    """1.0 when the last number in the completion (after "####" if present) is the answer (a GSM8K answer column's number after "####")${partial ? `, ${partial} for a wrong but well-formed number` : ""}."""
    try:
        text = completion.split("####")[-1]
        found = re.findall(r"-?\\d[\\d,]*(?:\\.\\d+)?", text)
        if not found:
            return 0.0
        got = float(found[-1].replace(",", ""))
        want = float(str(ground_truth).split("####")[-1].replace(",", "").strip())
        return 1.0 if abs(got - want) < 1e-9 else ${partial.toFixed(2)}
    except Exception:
        return 0.0
`;

/** Form only: a direct answer of a few words, not an echo of the prompt format. */
const ANSWERED = `def compute_reward(completion, ground_truth):
    """1.0 for a direct answer of at least three words that does not restart the prompt format."""
    try:
        text = completion.strip()
        if len(text.split()) < 3 or text.lower().startswith(("q:", "question:", "instruction:")):
            return 0.0
        return 1.0
    except Exception:
        return 0.0
`;

const EXACT = (partial: number) => `def compute_reward(completion, ground_truth):
    """1.0 when the completion is exactly the ground truth (surrounding space ignored)${partial ? `, ${partial} when it merely starts right` : ""}."""
    try:
        got = completion.strip()
        want = str(ground_truth).strip()
        if got == want:
            return 1.0
        return ${partial ? `${partial.toFixed(2)} if got[:1] == want[:1] else 0.0` : "0.0"}
    except Exception:
        return 0.0
`;

const JSON_EQUAL = (partial: number) => `import json

def compute_reward(completion, ground_truth):
    """1.0 when the completion's JSON object equals the ground truth's${partial ? `, ${partial} for any JSON object` : ""}."""
    try:
        text = completion.strip()
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end < start:
            return 0.0
        got = json.loads(text[start:end + 1])
        want = json.loads(ground_truth)
        if got == want:
            return 1.0
        return ${partial ? `${partial.toFixed(2)} if isinstance(got, dict) else 0.0` : "0.0"}
    except Exception:
        return 0.0
`;

/** Format compliance: the answer is one JSON object, nothing else. */
const JSON_FORMAT = `import json

def compute_reward(completion, ground_truth):
    """1.0 when the whole completion parses as a JSON object (format compliance)."""
    try:
        return 1.0 if isinstance(json.loads(completion.strip()), dict) else 0.0
    except Exception:
        return 0.0
`;

const COUNTDOWN = (partial: number) => `import json
import re

def _evaluate(expr):
    tokens = re.findall(r"\\d+|[-+*()]", expr)
    if "".join(tokens) != expr.replace(" ", ""):
        return None, []
    pos = [0]
    nums = []

    def atom():
        if pos[0] < len(tokens) and tokens[pos[0]] == "(":
            pos[0] += 1
            v = add()
            if pos[0] >= len(tokens) or tokens[pos[0]] != ")":
                raise ValueError("unbalanced")
            pos[0] += 1
            return v
        if pos[0] < len(tokens) and tokens[pos[0]].isdigit():
            nums.append(int(tokens[pos[0]]))
            pos[0] += 1
            return nums[-1]
        raise ValueError("expected a number")

    def mul():
        v = atom()
        while pos[0] < len(tokens) and tokens[pos[0]] == "*":
            pos[0] += 1
            v = v * atom()
        return v

    def add():
        v = mul()
        while pos[0] < len(tokens) and tokens[pos[0]] in "+-":
            op = tokens[pos[0]]
            pos[0] += 1
            r = mul()
            v = v + r if op == "+" else v - r
        return v

    value = add()
    if pos[0] != len(tokens):
        return None, []
    return value, nums

def compute_reward(completion, ground_truth):
    """1.0 when the expression uses the given numbers at most once each and hits the target${partial ? `; ${partial} for a valid expression that misses` : ""}."""
    try:
        gt = json.loads(ground_truth)
        expr = completion.strip().split("=")[0]
        if not expr or len(expr) > 60:
            return 0.0
        value, used = _evaluate(expr)
        if value is None:
            return 0.0
        pool = list(gt["numbers"])
        for n in used:
            if n not in pool:
                return 0.0
            pool.remove(n)
        return 1.0 if value == gt["target"] else ${partial.toFixed(2)}
    except Exception:
        return 0.0
`;

/**
 * A strict reward and its partial-credit variant (0.1 for a near miss), the pair the
 * scripted planner chooses between; `cases` gives the expected scores for a credit.
 */
function strictAndPartial(
  name: string,
  code: (partial: number) => string,
  strictNote: string,
  partialFor: string,
  cases: (partial: number) => RewardCase[],
): RewardSpec[] {
  return [0, 0.1].map((p) => ({
    name: p ? `${name}-partial` : name,
    partial: p > 0,
    code: code(p),
    note: p ? `${strictNote}, 0.1 for ${partialFor}` : strictNote,
    cases: cases(p),
  }));
}

/**
 * Code against tests: the completion's code (a fenced block if there is one) runs with
 * the task's tests in a child process with a time limit; the score is the share of
 * tests passed (partial credit per test), 0.1 for code that at least defines the
 * function. Needs rewards that may start processes (the OS sandbox).
 */
export const CODE_TESTS = `import json
import re
import secrets
import subprocess
import sys

CHECK = r"""
import json, sys
token, spec = sys.argv[1], json.loads(sys.argv[2])
source = sys.stdin.read()
result = {"defined": False, "passed": 0}
try:
    ns = {}
    exec(compile(source, "solution.py", "exec"), ns)
    entry = spec.get("entry")
    result["defined"] = callable(ns.get(entry)) if entry else True
    for test in spec["tests"]:
        try:
            try:
                ok = eval(compile(test, "<test>", "eval"), ns) is True
            except SyntaxError:
                exec(compile(test, "<test>", "exec"), ns)
                ok = True
            if ok:
                result["passed"] += 1
        except BaseException:
            pass
except BaseException:
    pass
print(token + json.dumps(result))
"""


def compute_reward(completion, ground_truth):
    """Share of the tests passed by the completion's code (run in a child with a 1.5 s limit); 0.1 for defining the function."""
    try:
        spec = json.loads(ground_truth)
        if isinstance(spec, list):
            spec = {"tests": spec}
        tests = spec["tests"]
    except Exception:
        return 0.0
    fenced = re.search(r"\`\`\`(?:python)?[ \\t]*\\n(.*?)\`\`\`", completion, re.S)
    code = fenced.group(1) if fenced else completion
    token = secrets.token_hex(8)
    try:
        run = subprocess.run([sys.executable, "-I", "-c", CHECK, token, json.dumps(spec)], input=code, capture_output=True, text=True, timeout=1.5)
    except Exception:
        return 0.0
    lines = [l for l in run.stdout.splitlines() if l.startswith(token)]
    if not lines:
        return 0.0
    try:
        result = json.loads(lines[-1][len(token):])
    except Exception:
        return 0.0
    if not tests:
        return 0.0
    score = result.get("passed", 0) / len(tests)
    if score == 0 and result.get("defined"):
        return 0.1
    return float(max(0.0, min(1.0, score)))
`;

export function rewardSpecs(kind: string): RewardSpec[] {
  switch (kind) {
    case "numeric":
      return strictAndPartial("numeric", NUMERIC, "exact number", "a wrong number", (p) => [
        { completion: "82", ground_truth: "82", expected: 1 },
        { completion: " 1,234", ground_truth: "1234", expected: 1 },
        { completion: "81", ground_truth: "82", expected: p },
        { completion: "no idea ???", ground_truth: "82", expected: 0 },
      ]);
    case "last_number":
      return strictAndPartial("last-number", LAST_NUMBER, "the last number is the answer", "a wrong number", (p) => [
        { completion: "5 + 7 = 12", ground_truth: "12", expected: 1 },
        { completion: "She has 3 left. #### 1,234", ground_truth: "1234", expected: 1 },
        { completion: "48 - 30 = 18", ground_truth: "48-30=<<48-30=18>>18 remain.\n#### 18", expected: 1 },
        { completion: "5 + 7 = 13", ground_truth: "12", expected: p },
        { completion: "no idea", ground_truth: "12", expected: 0 },
      ]);
    case "answered":
      return [
        {
          name: "answered",
          partial: false,
          code: ANSWERED,
          note: "form only: a direct answer of at least three words",
          cases: [
            { completion: "Paris is the capital of France.", ground_truth: "", expected: 1 },
            { completion: "Paris", ground_truth: "", expected: 0 },
            { completion: "Q: what is the capital", ground_truth: "", expected: 0 },
          ],
        },
      ];
    case "exact":
      return strictAndPartial("exact", EXACT, "exact string", "the right first character", (p) => [
        { completion: "olleh", ground_truth: "olleh", expected: 1 },
        { completion: "oleh", ground_truth: "olleh", expected: p },
        { completion: "???", ground_truth: "olleh", expected: 0 },
      ]);
    case "json":
      return strictAndPartial("json", JSON_EQUAL, "JSON deep-equal", "any JSON object", (p) => [
        { completion: '{"name":"Ann","age":31}', ground_truth: '{"name":"Ann","age":31}', expected: 1 },
        { completion: '{"name":"Bob","age":31}', ground_truth: '{"name":"Ann","age":31}', expected: p },
        { completion: "name: Ann, age: 31", ground_truth: '{"name":"Ann","age":31}', expected: 0 },
      ]);
    case "json_format":
      return [
        {
          name: "json-format",
          partial: false,
          code: JSON_FORMAT,
          note: "format compliance: the answer parses as one JSON object",
          cases: [
            { completion: '{"name":"Ann"}', ground_truth: '{"name":"Ann"}', expected: 1 },
            { completion: "name: Ann", ground_truth: '{"name":"Ann"}', expected: 0 },
            { completion: "[1, 2]", ground_truth: '{"name":"Ann"}', expected: 0 },
          ],
        },
      ];
    case "countdown":
      return strictAndPartial("countdown", COUNTDOWN, "valid expression hitting the target", "a valid miss", (p) => [
        { completion: "25+3*7", ground_truth: '{"target": 46, "numbers": [3, 7, 25]}', expected: 1 },
        { completion: "(25-3)*7", ground_truth: '{"target": 46, "numbers": [3, 7, 25]}', expected: p },
        { completion: "25+25-4", ground_truth: '{"target": 46, "numbers": [3, 7, 25]}', expected: 0 },
        { completion: "import os", ground_truth: '{"target": 46, "numbers": [3, 7, 25]}', expected: 0 },
      ]);
    case "code_tests": {
      const gt = JSON.stringify({ entry: "add_7", tests: ["add_7(1) == 8", "add_7(-7) == 0", "add_7(93) == 100"] });
      return [
        {
          name: "code-tests",
          partial: true,
          code: CODE_TESTS,
          note: "share of tests passed, run in a child process; 0.1 for defining the function",
          cases: [
            { completion: "def add_7(x):\n    return x + 7\n", ground_truth: gt, expected: 1 },
            { completion: "```python\ndef add_7(x):\n    return x + 7 if x > 0 else x\n```", ground_truth: gt, expected: 2 / 3 },
            { completion: "def add_7(x):\n    return x\n", ground_truth: gt, expected: 0.1 },
            { completion: "while True: pass", ground_truth: gt, expected: 0 },
            { completion: "7", ground_truth: gt, expected: 0 },
            // MBPP's form: a list of assert statements, no entry name.
            { completion: "def add(a, b):\n    return a + b", ground_truth: '["assert add(1, 2) == 3", "assert add(0, 0) == 0"]', expected: 1 },
            { completion: "def add(a, b):\n    return a - b", ground_truth: '["assert add(1, 2) == 3", "assert add(0, 0) == 0"]', expected: 0.5 },
            { completion: "def add(a, b) return", ground_truth: '["assert add(1, 2) == 3"]', expected: 0 },
          ],
        },
      ];
    }
    default:
      return rewardSpecs("exact");
  }
}
