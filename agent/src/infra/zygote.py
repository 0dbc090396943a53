# A warm docker-compose (v1, Python) for the AppOS agent. Importing compose
# takes most of each run's time, so this process imports it once and forks
# a child per command, which runs compose's own main() with the argv it was
# given. Requests and answers are JSON lines on stdin and stdout:
#   {"id": N, "argv": [...], "cwd": DIR, "out": FILE, "err": FILE}
#   {"kill": PID}
# answered with {"id": N, "pid": PID} when it starts and
# {"id": N, "code": STATUS} when it ends.
import json
import os
import signal
import sys
import threading

from compose.cli.main import main as compose_main  # the slow part, once

lock = threading.Lock()
out = sys.stdout


def say(msg):
    with lock:
        out.write(json.dumps(msg) + "\n")
        out.flush()


def start(req):
    """Forks the command's process (from the main thread); returns its pid."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            os.chdir(req["cwd"])
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            o = os.open(req["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            e = os.open(req["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(o, 1)
            os.dup2(e, 2)
            sys.stdin = open(0, "r", closefd=False)
            sys.stdout = open(1, "w", closefd=False)
            sys.stderr = open(2, "w", closefd=False)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            sys.argv = ["docker-compose"] + req["argv"]
            compose_main()
            code = 0
        except SystemExit as x:
            code = x.code if isinstance(x.code, int) else (0 if x.code is None else 1)
        except BaseException as x:  # noqa: B902
            try:
                sys.stderr.write("compose: %s\n" % x)
            except Exception:
                pass
            code = 1
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
    return pid


def wait(req_id, pid):
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    say({"id": req_id, "code": code if code >= 0 else 128 - code})


say({"ready": True})
for line in sys.stdin:
    try:
        req = json.loads(line)
    except ValueError:
        continue
    if "kill" in req:
        try:
            os.killpg(int(req["kill"]), signal.SIGTERM)
        except OSError:
            pass
        continue
    try:
        pid = start(req)
    except OSError as x:
        say({"id": req["id"], "error": str(x)})
        continue
    say({"id": req["id"], "pid": pid})
    threading.Thread(target=wait, args=(req["id"], pid), daemon=True).start()
