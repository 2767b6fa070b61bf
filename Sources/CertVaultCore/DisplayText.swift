/// Text that came from outside certvault (a VB365 server, a CSV or JSON intake file, a policy
/// file) made safe to show on a terminal or store in a record someone will print later.
///
/// A server or a file can hold ESC, CSI, OSC, BEL, CR and the like; printed raw, they can move
/// the cursor, rewrite earlier lines, change a terminal's title or hide text. Every such
/// character is shown as a visible escape (`\u{1B}`, as Swift escapes it) instead, so what a person reads is what
/// was received.
public enum DisplayText {
    /// Returns `text` with every control character (C0, DEL, C1), every Unicode bidirectional
    /// override or isolate, and every line or paragraph separator replaced by its visible escape.
    /// Printable text, including non-ASCII letters, passes unchanged.
    public static func escapingControls(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        out.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            if needsEscape(scalar) {
                out += scalar.escaped(asASCII: true)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// True for characters that must never reach a terminal as they are.
    public static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: return true  // C0 (incl. ESC, BEL, CR, LF, TAB), DEL, C1 (incl. CSI 0x9B)
        case 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true  // bidi marks, overrides, isolates
        case 0x2028, 0x2029: return true  // line and paragraph separators
        default: return false
        }
    }

    /// The escaped text cut to at most `limit` characters (Unicode scalars), with "…" appended
    /// when it was cut.
    public static func escapingControls(_ text: String, limit: Int) -> String {
        let escaped = escapingControls(text)
        guard escaped.unicodeScalars.count > limit else { return escaped }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: escaped.unicodeScalars.prefix(limit))
        return String(out) + "…"
    }
}
