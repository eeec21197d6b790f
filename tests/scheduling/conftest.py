"""The scheduling tests run jobs through the same workflow stack as tests/workflows."""

from tests.workflows.conftest import stack

__all__ = ["stack"]
