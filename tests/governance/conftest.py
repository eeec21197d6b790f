"""The shipped policy and root fixtures, shared with the promotion tests."""

from tests.promotion.conftest import demo_patches, shipped_policy, workspace

__all__ = ["demo_patches", "shipped_policy", "workspace"]
