"""The W&B worker: logs a tinkerloop run through the official `wandb` package.

Spoken to in JSON lines on stdin, one message a line:
  {"op": "init", "project": str, "name": str, "config": {...}, "tags": [...], "job_type": str}
  {"op": "log", "step": int, "data": {...}}
  {"op": "summary", "data": {...}}
  {"op": "finish", "exit_code": int}
Each init and finish is answered on stdout with {"op", "ok", ...}; a failed log or
summary is answered with {"op", "ok": false, "error"}. Nothing here may stop the run:
the harness treats every failure as "W&B off from here on".
"""

import json
import sys


def reply(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


try:
    import wandb
except Exception as exc:  # noqa: BLE001 - any import failure means "no W&B"
    reply(op="import", ok=False, error=f"the Python package wandb cannot be imported ({type(exc).__name__}: {exc})")
    sys.exit(3)

reply(op="ready", ok=True, version=getattr(wandb, "__version__", "?"))

run = None
for line in sys.stdin:
    if not line.strip():
        continue
    try:
        msg = json.loads(line)
    except json.JSONDecodeError as exc:
        reply(op="?", ok=False, error=f"unreadable message: {exc}")
        continue
    op = msg.get("op")
    try:
        if op == "init":
            run = wandb.init(
                project=msg["project"],
                name=msg.get("name"),
                config=msg.get("config") or {},
                tags=msg.get("tags") or None,
                job_type=msg.get("job_type"),
                reinit="finish_previous",
            )
            reply(op="init", ok=True, url=getattr(run, "url", None))
        elif op == "log":
            if run is None:
                raise RuntimeError("log before init")
            run.log(msg["data"], step=int(msg["step"]))
        elif op == "summary":
            if run is None:
                raise RuntimeError("summary before init")
            run.summary.update(msg["data"])
        elif op == "finish":
            if run is not None:
                run.finish(exit_code=int(msg.get("exit_code", 0)))
            reply(op="finish", ok=True)
            break
        else:
            reply(op=str(op), ok=False, error="unknown op")
    except Exception as exc:  # noqa: BLE001 - reported, never raised
        reply(op=str(op), ok=False, error=f"{type(exc).__name__}: {exc}")
