"""Kamal deploys as the portal sees them: the hosts' audit lines, the deploy lock, the hooks' events, drift.

The formats follow Kamal 2.12.0 (``lib/kamal/tags.rb``, ``commands/auditor.rb``, ``commands/lock.rb``,
``cli/base.rb``, ``cli/main.rb``): ``formats`` parses them (pure), ``reading`` reads the hosts' folders,
``services`` stores, ``timeline`` and ``drift`` are the reads the pages, the API and the alerts share.
"""
