"""Measure SM2 and SM3 through esign's own API next to ``openssl speed``, as ratios.

What is measured, so the comparison is fair (OpenSSL 3.0 ``apps/speed.c``):

* ``openssl speed sm2`` re-initialises an ``EVP_MD_CTX`` with ``EVP_DigestSignInit(..., EVP_sm3(),
  ...)`` for every signature and signs a **20-byte** buffer with ``EVP_DigestSign``; the ID is
  ``TLSv1.3+GM+Cipher+Suite`` (23 bytes) and is set once on a kept ``EVP_PKEY_CTX``. Verify is
  the same with ``EVP_DigestVerify``. Each operation therefore includes Z_A (4 SM3 blocks) and
  e = SM3(Z_A || M) (1 block).
* Ours: :meth:`keys.keypairs.Sm2SigningKey.sign` / :meth:`Sm2VerifyingKey.verify` on a message
  of ``message_bytes`` (default 20, like OpenSSL) with the standard 16-byte ID: also 4 + 1 SM3
  blocks, plus our per-call costs (a fresh ``EVP_MD_CTX``, an ``EVP_DigestSignInit_ex`` that
  fetches SM3 by name, setting the ID, the strict DER check on verify, and the ctypes calls).
  256-byte messages add 4 SM3 blocks (about 1 us), under 0.5 % of an SM2 operation.
* ``openssl speed -evp sm3 -bytes 16384`` calls ``EVP_Digest`` once per 16 KiB block; ours
  calls :func:`keys.hashing.sm3` once per 16 KiB block (pyca's bundled OpenSSL).

Figures are operations (or bytes) per second of wall time. On a shared machine the noise is
large, so :func:`run` alternates ours and OpenSSL ``rounds`` times and keeps the best of each.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from keys.errors import BackendUnavailableError, BadInputError

__all__ = [
    "MAX_SECONDS",
    "MAX_THREADS",
    "SM3_BLOCK",
    "Figure",
    "SpeedReport",
    "machine_info",
    "measure_sm2",
    "measure_sm2_threads",
    "measure_sm3",
    "openssl_speed_sm2",
    "openssl_speed_sm3",
    "parse_openssl_speed",
    "run",
]

#: Block size of the SM3 figure (the largest ``openssl speed`` default block).
SM3_BLOCK = 16384
#: Longest measurement accepted per figure.
MAX_SECONDS = 600.0
#: Most threads accepted.
MAX_THREADS = 64
_BATCH = 16  # operations between clock reads


@dataclass(frozen=True)
class Figure:
    """One measured figure and, when there is one, OpenSSL's figure for the same work."""

    name: str
    """Stable key, e.g. ``sm2_sign``, ``sm2_verify``, ``sm3``, ``sm2_sign_threads``."""
    unit: str
    """``ops/s`` or ``MB/s`` (10^6 bytes per second)."""
    ours: float
    """Through esign's API."""
    reference: float | None
    """``openssl speed`` (or, for the thread figure, our own one-thread sign/s)."""
    reference_name: str
    """What ``reference`` is."""
    ratio: float | None
    """``ours / reference``."""
    target: float | None = None
    """The ratio we aim for (reported, never asserted)."""
    detail: dict[str, object] = field(default_factory=dict)
    """Parameters of the run (message size, threads, block size, rounds)."""


@dataclass(frozen=True)
class SpeedReport:
    """Everything ``esign speed`` prints."""

    figures: tuple[Figure, ...]
    """The figures, in the order measured."""
    seconds: float
    """Seconds per measurement."""
    rounds: int
    """Alternating rounds; best of each kept."""
    openssl_cli: str | None
    """``openssl version`` of the CLI used for the reference, or None if absent."""
    libcrypto: str
    """Version of the libcrypto the SM2 binding loaded."""
    pyca_openssl: str
    """OpenSSL version bundled in pyca/cryptography (SM3 goes through it)."""
    machine: dict[str, object]
    """CPU, core count, OS, Python, load average at start."""

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form."""
        return asdict(self)


def _ratio(a: float, b: float | None) -> float | None:
    return round(a / b, 3) if b else None


def _rate(op: Callable[[], object], seconds: float) -> float:
    op()  # warm up (loads, fetches, caches)
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(_BATCH):
            op()
        n += _BATCH
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def _check(seconds: float, threads: int = 1) -> None:
    if not 0 < seconds <= MAX_SECONDS:
        raise BadInputError(f"seconds must be in (0, {MAX_SECONDS}]", message_zh="测量时长超出范围", field="seconds")
    if not 1 <= threads <= MAX_THREADS:
        raise BadInputError(f"threads must be 1..{MAX_THREADS}", message_zh="线程数超出范围", field="threads")


def measure_sm2(*, seconds: float, message_bytes: int = 20) -> tuple[float, float]:
    """SM2 (sign/s, verify/s) on one thread through Sm2SigningKey.sign / Sm2VerifyingKey.verify."""
    from keys.keypairs import generate_key

    _check(seconds)
    key = generate_key("sm2")
    pub = key.public_key()
    msg = os.urandom(message_bytes)
    sig = key.sign(msg)
    return _rate(lambda: key.sign(msg), seconds), _rate(lambda: pub.verify(sig, msg), seconds)


def measure_sm2_threads(*, seconds: float, threads: int, message_bytes: int = 20) -> float:
    """Total SM2 sign/s of ``threads`` threads signing with one shared key at once."""
    from keys.keypairs import generate_key

    _check(seconds, threads)
    key = generate_key("sm2")
    msg = os.urandom(message_bytes)
    key.sign(msg)
    counts = [0] * threads
    barrier = threading.Barrier(threads + 1)
    stop = threading.Event()

    def worker(i: int) -> None:
        barrier.wait()
        n = 0
        while not stop.is_set():
            for _ in range(_BATCH):
                key.sign(msg)
            n += _BATCH
        counts[i] = n

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in pool:
        t.join()
    return sum(counts) / (time.perf_counter() - start)


def measure_sm3(*, seconds: float, block: int = SM3_BLOCK) -> float:
    """SM3 bytes/s through :func:`keys.hashing.sm3`, one call per ``block`` bytes."""
    from keys.hashing import sm3

    _check(seconds)
    data = os.urandom(block)
    return _rate(lambda: sm3(data), seconds) * block


# --- openssl speed -------------------------------------------------------------------------------

_SM2_MR = re.compile(r"^\+F\d*:\d+:256:CurveSM2:([0-9.]+):([0-9.]+)\s*$", re.M)
_MD_MR = re.compile(r"^\+F:\d+:([A-Za-z0-9-]+):([0-9.]+)\s*$", re.M)


def parse_openssl_speed(text: str) -> dict[str, float]:
    """Read ``openssl speed -mr`` output: ``sm2_sign``/``sm2_verify`` (ops/s), ``<md>`` (bytes/s)."""
    out: dict[str, float] = {}
    m = _SM2_MR.search(text)
    if m:
        out["sm2_sign"], out["sm2_verify"] = float(m.group(1)), float(m.group(2))
    for name, value in _MD_MR.findall(text):
        out[name.lower()] = float(value)
    return out


def _openssl(args: list[str], timeout: float, exe: str) -> str:
    path = shutil.which(exe)
    if path is None:
        raise BackendUnavailableError(f"{exe} not found on PATH", message_zh="未找到 openssl 命令")
    try:
        proc = subprocess.run([path, *args], capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendUnavailableError(f"openssl {' '.join(args)} failed: {exc}") from exc
    if proc.returncode != 0:
        raise BackendUnavailableError(f"openssl {' '.join(args)} exited {proc.returncode}: {proc.stderr[-300:]}")
    return proc.stdout


def _whole_seconds(seconds: float) -> str:
    return str(max(1, round(seconds)))  # openssl speed -seconds takes an integer


def openssl_speed_sm2(*, seconds: float, exe: str = "openssl", multi: int = 1) -> tuple[float, float]:
    """``openssl speed -mr -seconds N sm2`` (``-multi K`` when ``multi`` > 1): total (sign/s, verify/s)."""
    args = ["speed", "-mr", "-seconds", _whole_seconds(seconds), *(["-multi", str(multi)] if multi > 1 else []), "sm2"]
    text = _openssl(args, 4 * seconds + 60, exe)
    got = parse_openssl_speed(text)
    if "sm2_sign" not in got:
        raise BackendUnavailableError("could not read the SM2 line of `openssl speed -mr sm2`")
    return got["sm2_sign"], got["sm2_verify"]


def openssl_speed_sm3(*, seconds: float, block: int = SM3_BLOCK, exe: str = "openssl") -> float:
    """``openssl speed -mr -evp sm3 -bytes B -seconds N``: bytes/s."""
    args = ["speed", "-mr", "-evp", "sm3", "-bytes", str(block), "-seconds", _whole_seconds(seconds)]
    got = parse_openssl_speed(_openssl(args, 2 * seconds + 60, exe))
    if "sm3" not in got:
        raise BackendUnavailableError("could not read the SM3 line of `openssl speed -evp sm3`")
    return got["sm3"]


def machine_info() -> dict[str, object]:
    """CPU model, logical CPUs, OS, Python and load average (noise indicator)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load: object = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "loadavg_at_start": load,
    }


def _openssl_version(exe: str) -> str | None:
    try:
        return _openssl(["version"], 30, exe).strip()
    except BackendUnavailableError:
        return None


def run(
    which: str = "all",
    *,
    seconds: float = 3.0,
    threads: int = 2,
    rounds: int = 1,
    message_bytes: int = 20,
    with_openssl: bool = True,
    exe: str = "openssl",
) -> SpeedReport:
    """Measure ``sm2``, ``sm3`` or ``all``; OpenSSL figures come from the same command.

    Args:
        which: ``sm2``, ``sm3`` or ``all``.
        seconds: per figure and per round.
        threads: threads for the multi-thread SM2 sign figure (1 skips it).
        rounds: ours and OpenSSL alternate this many times; the best of each is kept.
        message_bytes: SM2 message size (20 = what ``openssl speed sm2`` signs).
        with_openssl: False measures ours only (no reference, no ratios).
        exe: the openssl command.
    """
    from keys._sm2 import libcrypto_version, self_test

    if which not in ("sm2", "sm3", "all"):
        raise BadInputError("choose sm2, sm3 or all", message_zh="请选择 sm2、sm3 或 all", field="which")
    _check(seconds, threads)
    if not 1 <= rounds <= 20 or not 0 <= message_bytes <= 1 << 20:
        raise BadInputError("rounds must be 1..20 and message size 0..1 MiB", field="rounds")
    self_test()
    machine = machine_info()
    cli = _openssl_version(exe) if with_openssl else None
    ref = with_openssl and cli is not None
    figures: list[Figure] = []
    detail: dict[str, object] = {"rounds": rounds, "seconds": seconds}
    if which in ("sm2", "all"):
        sign = verify = o_sign = o_verify = 0.0
        for _ in range(rounds):
            s, v = measure_sm2(seconds=seconds, message_bytes=message_bytes)
            sign, verify = max(sign, s), max(verify, v)
            if ref:
                s, v = openssl_speed_sm2(seconds=seconds, exe=exe)
                o_sign, o_verify = max(o_sign, s), max(o_verify, v)
        name = "openssl speed sm2 (20-byte message, EVP_DigestSign)"
        d = {**detail, "message_bytes": message_bytes}
        figures.append(
            Figure("sm2_sign", "ops/s", round(sign, 1), o_sign or None, name, _ratio(sign, o_sign or None), 0.9, d)
        )
        figures.append(
            Figure(
                "sm2_verify",
                "ops/s",
                round(verify, 1),
                o_verify or None,
                name,
                _ratio(verify, o_verify or None),
                0.9,
                d,
            )
        )
        if threads > 1:
            # ours with N threads and with 1, and `openssl speed -multi N` next to its 1-process figure:
            # the latter shows what the machine allows at the moment (another job on a core caps both)
            multi = one = o_multi = 0.0
            for _ in range(rounds):
                multi = max(multi, measure_sm2_threads(seconds=seconds, threads=threads, message_bytes=message_bytes))
                one = max(one, measure_sm2_threads(seconds=seconds, threads=1, message_bytes=message_bytes))
                if ref:
                    o_multi = max(o_multi, openssl_speed_sm2(seconds=seconds, exe=exe, multi=threads)[0])
            extra: dict[str, object] = {**d, "threads": threads}
            if ref:
                extra["openssl_multi_sign"] = round(o_multi, 1)
                extra["openssl_multi_scaling"] = _ratio(o_multi, o_sign or None)
            figures.append(
                Figure(
                    "sm2_sign_threads",
                    "ops/s",
                    round(multi, 1),
                    round(one, 1),
                    "esign sm2 sign/s, 1 thread",
                    _ratio(multi, one),
                    0.85 * threads,
                    extra,
                )
            )
    if which in ("sm3", "all"):
        ours = ossl = 0.0
        for _ in range(rounds):
            ours = max(ours, measure_sm3(seconds=seconds))
            if ref:
                ossl = max(ossl, openssl_speed_sm3(seconds=seconds, exe=exe))
        figures.append(
            Figure(
                "sm3",
                "MB/s",
                round(ours / 1e6, 1),
                round(ossl / 1e6, 1) if ossl else None,
                "openssl speed -evp sm3 -bytes 16384",
                _ratio(ours, ossl or None),
                0.9,
                {**detail, "block_bytes": SM3_BLOCK},
            )
        )
    from cryptography.hazmat.backends.openssl.backend import backend

    return SpeedReport(
        tuple(figures), seconds, rounds, cli, libcrypto_version(), backend.openssl_version_text(), machine
    )
