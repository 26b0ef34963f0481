"""Runs the Tinker worker (or, with --probe, the fake SDK's strictness probe) against the
real SDK source inside the Debian 13 chroot that `npm run test:real-sdk` prepares.

Paths are those of the chroot: the repository is mounted read-only at the root of this
file's checkout, the reference SDK at /opt/tinker-sdk. The SDK version comes from the
pin in requirements.txt (the SDK reads it from package metadata, which a source tree
lacks), so the run checks exactly the version the project pins.
"""
import importlib.util
import os
import re
import runpy
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
WORKER = os.path.join(REPO, "tools", "tinker", "backends", "tinker", "worker.py")
PROBE = os.path.join(REPO, "test", "fakes", "tinker-sdk", "strictness_probe.py")
TOKENIZERS = os.path.join(REPO, "test", "fakes", "tinker-sdk", "tinker", "_tokenizer.py")
REQUIREMENTS = os.path.join(REPO, "tools", "tinker", "backends", "tinker", "requirements.txt")


def pinned_version():
    with open(REQUIREMENTS) as f:
        m = re.search(r"^tinker==([\w.]+)$", f.read(), re.M)
    if not m:
        raise SystemExit("requirements.txt pins no exact tinker version")
    return m.group(1)


def metadata_dir(version):
    """A dist-info for the version, in a fixed place (the worker is killed on close, so nothing temporary would be cleaned)."""
    root = os.path.join(tempfile.gettempdir(), "tinkerloop-sdk-metadata-%s" % version)
    info = os.path.join(root, "tinker-%s.dist-info" % version)
    if not os.path.exists(os.path.join(info, "METADATA")):
        os.makedirs(info, exist_ok=True)
        tmp = os.path.join(info, "METADATA.%d" % os.getpid())
        with open(tmp, "w") as f:
            f.write("Metadata-Version: 2.1\nName: tinker\nVersion: %s\n" % version)
        os.replace(tmp, os.path.join(info, "METADATA"))
    return root


def load_tokenizers():
    spec = importlib.util.spec_from_file_location("fake_tokenizers", TOKENIZERS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["fake_tokenizers"] = module


if __name__ == "__main__":
    sys.path[:0] = [metadata_dir(pinned_version()), "/opt/tinker-sdk", HERE]
    load_tokenizers()
    import network_stub

    network_stub.install()
    target = PROBE if "--probe" in sys.argv[1:] else WORKER
    sys.argv = [target]
    runpy.run_path(target, run_name="__main__")
