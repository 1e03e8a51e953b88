"""Agents' phones as real SIP endpoints: credentials, the endpoint rows, the Asterisk side."""
