"""Text from outside (a child process's output: npm, pnpm, yarn, node, the CLI) made safe for fail() and print().

The Starlark twin of src/errors.ts's `outsideText` (test/unit/outside-text-bzl.test.ts checks they agree): every C0
control character but the line feed and the tab, DEL, the C1 controls and the Unicode line separators and bidi
overrides (as UTF-8, which is how Bazel reads a process's output: byte by byte) become visible escapes (`\\x1b`,
`\\u202e`), so a package manager's output quoted in an error can neither set the terminal's title (OSC), clear the
screen, ring the bell, nor rewrite or reorder a line. Bazel prints fail() messages as they are (it strips colour
codes, not the rest).
"""

# (what, its escape): the Unicode line separators and bidi marks and overrides, the C1 controls (their UTF-8 bytes
# begin with none that is replaced itself), then C0 and DEL.
_ESCAPES = [
    ("\342\200\250", "\\u2028"),
    ("\342\200\251", "\\u2029"),
    ("\342\200\216", "\\u200e"),
    ("\342\200\217", "\\u200f"),
    ("\342\200\252", "\\u202a"),
    ("\342\200\253", "\\u202b"),
    ("\342\200\254", "\\u202c"),
    ("\342\200\255", "\\u202d"),
    ("\342\200\256", "\\u202e"),
    ("\342\201\246", "\\u2066"),
    ("\342\201\247", "\\u2067"),
    ("\342\201\250", "\\u2068"),
    ("\342\201\251", "\\u2069"),
    ("\302\200", "\\x80"),
    ("\302\201", "\\x81"),
    ("\302\202", "\\x82"),
    ("\302\203", "\\x83"),
    ("\302\204", "\\x84"),
    ("\302\205", "\\x85"),
    ("\302\206", "\\x86"),
    ("\302\207", "\\x87"),
    ("\302\210", "\\x88"),
    ("\302\211", "\\x89"),
    ("\302\212", "\\x8a"),
    ("\302\213", "\\x8b"),
    ("\302\214", "\\x8c"),
    ("\302\215", "\\x8d"),
    ("\302\216", "\\x8e"),
    ("\302\217", "\\x8f"),
    ("\302\220", "\\x90"),
    ("\302\221", "\\x91"),
    ("\302\222", "\\x92"),
    ("\302\223", "\\x93"),
    ("\302\224", "\\x94"),
    ("\302\225", "\\x95"),
    ("\302\226", "\\x96"),
    ("\302\227", "\\x97"),
    ("\302\230", "\\x98"),
    ("\302\231", "\\x99"),
    ("\302\232", "\\x9a"),
    ("\302\233", "\\x9b"),
    ("\302\234", "\\x9c"),
    ("\302\235", "\\x9d"),
    ("\302\236", "\\x9e"),
    ("\302\237", "\\x9f"),
    ("\000", "\\x00"),
    ("\001", "\\x01"),
    ("\002", "\\x02"),
    ("\003", "\\x03"),
    ("\004", "\\x04"),
    ("\005", "\\x05"),
    ("\006", "\\x06"),
    ("\007", "\\x07"),
    ("\010", "\\x08"),
    ("\013", "\\x0b"),
    ("\014", "\\x0c"),
    ("\015", "\\x0d"),
    ("\016", "\\x0e"),
    ("\017", "\\x0f"),
    ("\020", "\\x10"),
    ("\021", "\\x11"),
    ("\022", "\\x12"),
    ("\023", "\\x13"),
    ("\024", "\\x14"),
    ("\025", "\\x15"),
    ("\026", "\\x16"),
    ("\027", "\\x17"),
    ("\030", "\\x18"),
    ("\031", "\\x19"),
    ("\032", "\\x1a"),
    ("\033", "\\x1b"),
    ("\034", "\\x1c"),
    ("\035", "\\x1d"),
    ("\036", "\\x1e"),
    ("\037", "\\x1f"),
    ("\177", "\\x7f"),
]

def outside_text(text):
    """`text` with every control character but \\n and \\t as a visible escape.

    Args:
      text: what a child process printed (or any string from outside).
    Returns:
      The same text, safe to print.
    """
    for c, escape in _ESCAPES:
        if c in text:
            text = text.replace(c, escape)
    return text
