"""Wallet ops has no model page of its own: tokens are the API kit's (``opsportal.api.admin``), and the restart
rate limit's ledger is no record (each attempt's record is its row in the audit trail, ``opsportal.audit``)."""
