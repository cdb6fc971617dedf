"""A tiny image for the sandbox tests, imported (no registry is reachable): a shell and the libc that
the opencode binary links against (``ldd`` says which). opencode itself is mounted in by openwork."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import tarfile
from pathlib import Path

IMAGE_REPO = "localhost/openwork-sandbox-test"
ENGINE_ARGS = "--runtime runc -- --ulimit nofile=1024:1024 --ulimit nproc=1000:1000"  # this kind of host


def _libraries(binary: Path) -> list[Path]:
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=30, check=True).stdout
    found = re.findall(r"(/\S+\.so[^\s]*)", out)
    return sorted({Path(p) for p in found})


def _runtime_libraries() -> list[Path]:
    """Libraries opencode loads after start: its pty module (a native library it writes to /tmp and opens
    when a terminal is created) links against libutil, which ``ldd`` of the binary does not show."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=30, check=True).stdout
    found = re.findall(r"libutil\.so\.1 \(libc6,x86-64\) => (\S+)", out)
    return [Path(found[0])] if found else []


def build_image(opencode: Path, podman: str) -> str:
    files = sorted({*_libraries(opencode), *_libraries(Path("/bin/sh")), *_runtime_libraries(), Path("/bin/sh")})
    tag = hashlib.sha256("".join(str(f) for f in files).encode()).hexdigest()[:12]
    image = f"{IMAGE_REPO}:{tag}"
    if subprocess.run([podman, "image", "exists", image], timeout=60).returncode == 0:
        return image
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for folder in ("tmp", "etc", "workspace", "persist", "opt/opencode", "root"):
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if folder == "tmp" else 0o755
            tar.addfile(info)
        passwd = b"root:x:0:0:root:/root:/bin/sh\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size = len(passwd)
        tar.addfile(info, io.BytesIO(passwd))
        for path in files:
            tar.add(str(path.resolve()), arcname=str(path).lstrip("/"))
    subprocess.run([podman, "import", "-", image], input=buf.getvalue(), check=True, timeout=300, capture_output=True)
    return image
