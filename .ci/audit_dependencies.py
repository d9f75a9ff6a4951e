"""Judge pip-audit's JSON report of requirements.lock: fail on any known vulnerability.

A dependency pip-audit could not look up (no vulnerability database reachable from this
machine) is listed as not audited; the run says so plainly instead of calling it clean.
"""

import json
import sys

report = json.load(sys.stdin)
dependencies = report.get("dependencies", [])
vulnerable = [d for d in dependencies if d.get("vulns")]
skipped = [d for d in dependencies if d.get("skip_reason")]
for dep in vulnerable:
    ids = ", ".join(v["id"] for v in dep["vulns"])
    print(f"VULNERABLE: {dep['name']} {dep.get('version', '')}: {ids}")
audited = len(dependencies) - len(skipped)
total = len(dependencies)
print(f"pip-audit: {audited} of {total} pinned dependencies audited, {len(vulnerable)} vulnerable.")
if skipped:
    print(f"NOT AUDITED ({len(skipped)}): no vulnerability data reachable for them from here:")
    print("  " + ", ".join(d["name"] for d in skipped))
sys.exit(1 if vulnerable else 0)
