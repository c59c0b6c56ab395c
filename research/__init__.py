"""The reproduction harness of keras-backdrop: studies, not library code.

This package lives beside the library in the repository and is not part
of the installed distribution. Run it from a checkout, for example
`python -m research.texture --study fast`.
"""
