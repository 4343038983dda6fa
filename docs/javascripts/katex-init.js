// Typesets the formulas pymdownx.arithmatex (generic: true) wraps in .arithmatex as \( \) and \[ \],
// on every page material shows, instant navigation included (document$ emits once per page).
// Only .arithmatex elements are touched, so a dollar sign in prose stays a dollar sign.
document$.subscribe(({ body }) => {
  for (const element of body.querySelectorAll(".arithmatex")) {
    renderMathInElement(element, {
      delimiters: [
        { left: "\\(", right: "\\)", display: false },
        { left: "\\[", right: "\\]", display: true },
      ],
      throwOnError: false,
    });
  }
});
