"""Similar submissions: every counting submission against every other, template code excluded, evidence for a TA.

Modules: ``sources`` (what of a zip is compared: the code the student wrote, ANSWERS), ``fingerprint``
(copydetect's tokens and winnowing with a stable hash), ``compare`` (boilerplate, the inverted index, the
ranked pairs), ``pages`` (index.html, pairs.csv and the side-by-side pages) and ``run`` (a batch's
similarity report, cached). The pages say "similar; look at both": a pair is evidence, never a verdict.
"""
