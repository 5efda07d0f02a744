"""A Hugging Face Hub cache built on disk, for tests that load Hub names offline."""

from pathlib import Path


def cache_repo(cache: Path, repo_id: str, folder: Path, commit: str) -> None:
    """huggingface_hub's cache layout: models--org--name/{refs/main, snapshots/<commit>/<files>}."""
    root = cache / ("models--" + repo_id.replace("/", "--"))
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    snapshot = root / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for file in folder.iterdir():
        (snapshot / file.name).write_bytes(file.read_bytes())
