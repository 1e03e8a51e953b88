"""Simulated phones: the borrowers behind the carrier trunk, and the agents of the escalation queue.

Modules:
  pool               PhonePool: start/stop a simulator from Python (context manager)
  __main__           CLI: python -m ivr.sim borrower|agent|caller ...
  dispatcher         the SIP front door on the trunk/agent port; spreads calls over phone processes
  phone              one phone process (pjsua2 endpoint, <= 3 calls) and the persona/agent scripts
  personas           persona file parsing and validation
  calllog            the JSON-lines call log (the witness of who was called) and readers
  caller             a scripted pjsua2 caller used by the tests (stands where Asterisk would)
  sipmsg             minimal SIP message parsing
  pjsua_workarounds  every workaround for the pjsua2-pybind11 wheel (ctypes into libpjsua)
"""
