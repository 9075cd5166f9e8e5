"""pbx-bridge: hosted-business-phone features for a self-hosted Asterisk or FreeSWITCH."""

__version__ = "0.1.0"
