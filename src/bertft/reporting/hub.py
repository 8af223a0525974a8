"""`--push_to_hub`: upload a finished model folder to the Hugging Face Hub."""

from __future__ import annotations

from pathlib import Path

from bertft.errors import BertftError

# Checkpoints hold optimizer state (3x the model) and are only for resuming here.
IGNORED = ["checkpoints/*", "checkpoints/**", "*.tmp"]


def check_repository_id(repository_id: str | None) -> None:
    """Refuse a malformed id before training rather than at the upload."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if not repository_id:
        raise BertftError("--push_to_hub needs --repository_id (e.g. your-name/model-name)")
    try:
        validate_repo_id(repository_id)
    except HFValidationError as e:
        raise BertftError(f"--repository_id {repository_id}: not a valid hub id ({e})") from None


def push_folder(folder: Path, repository_id: str) -> str:
    """Create the repository if needed and upload `folder` (model, tokenizer, model card,
    metrics, report; not checkpoints). Returns the repository URL."""
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        repo = api.create_repo(repository_id, exist_ok=True)
        api.upload_folder(
            repo_id=repository_id,
            folder_path=str(folder),
            ignore_patterns=IGNORED,
            commit_message="Upload model trained with bertft",
        )
    except Exception as e:  # offline, no token, no permission, network: all end the same way
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise BertftError(
            f"could not push {folder} to the Hugging Face Hub as {repository_id}: {reason}. "
            f"The trained model is saved in {folder}; push it later with "
            f"`hf upload {repository_id} {folder} . --exclude 'checkpoints/*'`"
        ) from None
    return str(repo)
