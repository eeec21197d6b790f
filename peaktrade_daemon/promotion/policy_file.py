"""Loading ``config/promotion.toml``: a valid :class:`AutoApplyPolicy` or a :class:`PolicyError`.

Fail closed (§8.1): a missing, unreadable, unparseable or invalid policy file is an error that
stops every promotion; callers never substitute defaults.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from peaktrade_daemon.errors import PolicyError, other_problems
from peaktrade_daemon.governance.policy import AutoApplyPolicy


def load_policy(path: Path) -> AutoApplyPolicy:
    """Parse and validate the policy file; raises PolicyError naming the file and key."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PolicyError(f"{path}: promotion policy not found; nothing promoted") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: promotion policy unreadable ({exc}); nothing promoted") from exc
    try:
        data = tomllib.loads(text)
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError, huge integers, deep nesting
        raise PolicyError(f"{path}: invalid TOML ({exc}); nothing promoted") from exc
    try:
        return AutoApplyPolicy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "<file>"
        more = other_problems(exc.errors())
        raise PolicyError(f"{path}: key '{key}': {first['msg']}{more}; nothing promoted") from exc
