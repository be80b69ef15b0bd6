"""``scenario_path``: a file inside the server's scenarios directory, and nothing else.

The path must be relative, without ``..``; once every symlink is resolved it
must still lie inside the (resolved) scenarios directory, and be a YAML file of
reasonable size. Every refusal is a 422 that names the path as given, never the
server's own directories.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from apart.api.errors import ApiError
from apart.api.limits import MAX_BODY_BYTES

SUFFIXES = (".yaml", ".yml")
CODE = "invalid_scenario_path"


def _refuse(detail: str) -> ApiError:
    return ApiError(422, CODE, detail)


def resolve_scenario_path(root: Path, given: str) -> Path:
    """The file ``given`` names inside ``root``; ApiError if it is not one."""
    if not given.strip() or any(ord(ch) < 32 for ch in given):
        raise _refuse("scenario_path must be a file name such as 'demo.yaml'")
    relative = PurePosixPath(given.replace("\\", "/"))
    drive_like = bool(relative.parts) and ":" in relative.parts[0]
    if relative.is_absolute() or given.startswith("~") or drive_like:
        raise _refuse(f"scenario_path '{given}' must be relative to the scenarios directory "
                      "(for example 'demo.yaml'), not an absolute path")
    if ".." in relative.parts:
        raise _refuse(f"scenario_path '{given}' may not contain '..': it must stay inside "
                      "the scenarios directory")
    try:
        base = root.resolve(strict=True)
        target = (base / relative).resolve()
    except (OSError, RuntimeError) as exc:  # missing directory, symlink loop
        raise _refuse(f"scenario_path '{given}' cannot be opened: the server's scenarios "
                      "directory (APART_SCENARIOS_DIR) is missing or unreadable") from exc
    if not target.is_relative_to(base):
        raise _refuse(f"scenario_path '{given}' leads outside the scenarios directory "
                      "(through a symbolic link); only files inside it may be used")
    if target.suffix.lower() not in SUFFIXES:
        raise _refuse(f"scenario_path '{given}' is not a YAML file (.yaml or .yml)")
    if not target.is_file():
        raise _refuse(f"there is no scenario '{given}' in the scenarios directory; "
                      "upload its text as `scenario` instead, or ask the operator to add it")
    return target


def read_scenario_file(root: Path, given: str) -> str:
    target = resolve_scenario_path(root, given)
    try:
        if target.stat().st_size > MAX_BODY_BYTES:
            raise _refuse(f"scenario '{given}' is larger than {MAX_BODY_BYTES} bytes")
        return target.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse(f"scenario '{given}' is not UTF-8 text") from exc
    except OSError as exc:
        raise _refuse(f"scenario '{given}' cannot be read ({exc.strerror})") from exc
