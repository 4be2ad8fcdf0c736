"""Making signatures and seals: GB/T 38540 seals and seal signatures, OFD, PDF (PAdES), CMS, RFC 3161."""
