"""Engines that execute a Pipeline: ``local`` (default, a loop) and ``ray`` (Ray Data)."""
