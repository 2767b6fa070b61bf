/// Ends text as one sentence: a period is added unless the text already ends with `.`, `!` or
/// `?` (a server's message often does), so that no message ends with "..".
public enum Sentence {
    /// `text` with exactly one closing punctuation mark.
    public static func end(_ text: String) -> String {
        var trimmed = Substring(text)
        while let last = trimmed.last, last == " " || last == "\n" || last == "\r" || last == "\t" { trimmed.removeLast() }
        guard let last = trimmed.last else { return "." }
        return ".!?".contains(last) ? String(trimmed) : trimmed + "."
    }
}
