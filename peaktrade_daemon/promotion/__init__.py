"""Promotion and governance (System 2, §8): policy, proposals, bounded writer, audit, guard."""
