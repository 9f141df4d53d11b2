"""Personal data: export (art. 15, 20 GDPR) and erasure with the invoicing facts kept (art. 17)."""
