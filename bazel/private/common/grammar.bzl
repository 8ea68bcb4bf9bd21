"""The grammars the rules check at analysis time, the same as the CLI's.

GENERATED from src/oci/grammar-dfa.ts by test/unit/grammar-bzl.test.ts (PIPELINE_UPDATE_GENERATED=1): do not edit.
Each table is a deterministic automaton proven equal to the CLI's pattern (src/oci/grammar-dfa.test.ts), so a value
that passes analysis is one `bazel run` accepts, and the reverse.
"""

def _accepts(dfa, s):
    state = dfa.start
    for c in s.elems():
        k = dfa.classes.get(c)
        if k == None:
            return False
        state = dfa.next.get(state + " " + k)
        if state == None:
            return False
    return state in dfa.accept

_REGISTRY = struct(
    start = "start",
    accept = {"label": True, "bracketed": True, "port": True},
    classes = {"-": "0", ".": "1", "0": "2", "1": "2", "2": "2", "3": "2", "4": "2", "5": "2", "6": "2", "7": "2", "8": "2", "9": "2", ":": "3", "A": "4", "B": "4", "C": "4", "D": "4", "E": "4", "F": "4", "G": "5", "H": "5", "I": "5", "J": "5", "K": "5", "L": "5", "M": "5", "N": "5", "O": "5", "P": "5", "Q": "5", "R": "5", "S": "5", "T": "5", "U": "5", "V": "5", "W": "5", "X": "5", "Y": "5", "Z": "5", "[": "6", "]": "7", "a": "4", "b": "4", "c": "4", "d": "4", "e": "4", "f": "4", "g": "5", "h": "5", "i": "5", "j": "5", "k": "5", "l": "5", "m": "5", "n": "5", "o": "5", "p": "5", "q": "5", "r": "5", "s": "5", "t": "5", "u": "5", "v": "5", "w": "5", "x": "5", "y": "5", "z": "5"},
    next = {
        "bracketed 3": "colon",
        "colon 2": "port",
        "dot 2": "label",
        "dot 4": "label",
        "dot 5": "label",
        "hyphen 0": "hyphen",
        "hyphen 2": "label",
        "hyphen 4": "label",
        "hyphen 5": "label",
        "ipv6 2": "ipv6more",
        "ipv6 3": "ipv6more",
        "ipv6 4": "ipv6more",
        "ipv6more 2": "ipv6more",
        "ipv6more 3": "ipv6more",
        "ipv6more 4": "ipv6more",
        "ipv6more 7": "bracketed",
        "label 0": "hyphen",
        "label 1": "dot",
        "label 2": "label",
        "label 3": "colon",
        "label 4": "label",
        "label 5": "label",
        "port 2": "port",
        "start 2": "label",
        "start 4": "label",
        "start 5": "label",
        "start 6": "ipv6",
    },
)

def is_registry(s):
    """Whether `s` is accepted (see src/oci/grammar-dfa.ts).

    Args:
      s: the string to check.

    Returns:
      True or False.
    """
    return _accepts(_REGISTRY, s)

_REPOSITORY = struct(
    start = "start",
    accept = {"c": True},
    classes = {"-": "0", ".": "1", "/": "2", "0": "3", "1": "3", "2": "3", "3": "3", "4": "3", "5": "3", "6": "3", "7": "3", "8": "3", "9": "3", "_": "4", "a": "3", "b": "3", "c": "3", "d": "3", "e": "3", "f": "3", "g": "3", "h": "3", "i": "3", "j": "3", "k": "3", "l": "3", "m": "3", "n": "3", "o": "3", "p": "3", "q": "3", "r": "3", "s": "3", "t": "3", "u": "3", "v": "3", "w": "3", "x": "3", "y": "3", "z": "3"},
    next = {
        "c 0": "dash",
        "c 1": "dot",
        "c 2": "slash",
        "c 3": "c",
        "c 4": "u1",
        "dash 0": "dash",
        "dash 3": "c",
        "dot 3": "c",
        "slash 3": "c",
        "start 3": "c",
        "u1 3": "c",
        "u1 4": "u2",
        "u2 3": "c",
    },
)

def is_repository(s):
    """Whether `s` is accepted (see src/oci/grammar-dfa.ts).

    Args:
      s: the string to check.

    Returns:
      True or False.
    """
    return _accepts(_REPOSITORY, s)

_PLATFORM_PART = struct(
    start = "start",
    accept = {"rest": True},
    classes = {"-": "0", ".": "0", "0": "1", "1": "1", "2": "1", "3": "1", "4": "1", "5": "1", "6": "1", "7": "1", "8": "1", "9": "1", "_": "0", "a": "1", "b": "1", "c": "1", "d": "1", "e": "1", "f": "1", "g": "1", "h": "1", "i": "1", "j": "1", "k": "1", "l": "1", "m": "1", "n": "1", "o": "1", "p": "1", "q": "1", "r": "1", "s": "1", "t": "1", "u": "1", "v": "1", "w": "1", "x": "1", "y": "1", "z": "1"},
    next = {
        "rest 0": "rest",
        "rest 1": "rest",
        "start 1": "rest",
    },
)

def is_platform_part(s):
    """Whether `s` is accepted (see src/oci/grammar-dfa.ts).

    Args:
      s: the string to check.

    Returns:
      True or False.
    """
    return _accepts(_PLATFORM_PART, s)
