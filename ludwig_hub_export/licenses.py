"""The license ids the Hub accepts in a card's ``license:`` field, checked before any request.

Source: `SOURCE` (the "License identifier" column). A typo (``Apache-2.0``) would otherwise be refused by the
Hub's validate-yaml at commit time, after the upload.
"""

from __future__ import annotations

LICENSES = frozenset("""
apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0 bigcode-openrail-m
afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0
cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0
cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0
cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl
gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc h-research intel-research lppl-1.3c ms-pl apple-ascl apple-amlr
mpl-2.0 odc-by odbl openmdw-1.0 openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib pddl lgpl-lr
deepfloyd-if-license fair-noncommercial-research-license llama2 llama3 llama3.1 llama3.2 llama3.3 llama4
grok2-community gemma unknown other
""".split())
SOURCE = "https://huggingface.co/docs/hub/repositories-licenses"


def license_problem(license: object, license_name: object = None, license_link: object = None) -> str | None:
    """What is wrong with these card fields, as a sentence with the fix, or None when the Hub accepts them."""
    if license is None:
        return None
    if not isinstance(license, str) or license not in LICENSES:
        import difflib

        close = difflib.get_close_matches(str(license).lower(), sorted(LICENSES), n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return (f"license {license!r} is not a license id the Hub accepts: {hint}use a lowercase id from "
                f"{SOURCE}, or 'other' with a license name and link")
    if license == "other" and not (isinstance(license_name, str) and license_name
                                   and isinstance(license_link, str) and license_link):
        return "license 'other' needs license_name and license_link (the Hub asks for both)"
    return None
