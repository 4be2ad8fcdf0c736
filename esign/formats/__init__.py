"""Wire formats and the exact bytes that get signed.

The one part of ``esign`` that the verifier may import (import-linter allows
``verifier -> esign.formats`` and nothing else of ``esign``): parsing and encoding only, no
signing, no private keys.
"""
