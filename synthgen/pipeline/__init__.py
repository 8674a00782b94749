"""Orchestration: one clip end to end (``clip.make_row``) and one generation job of shards (``job``)."""
