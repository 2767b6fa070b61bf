import CertVaultCore
import Testing

@Suite("Text from outside, shown safely")
struct DisplayTextTests {
    @Test(
        "control characters become visible escapes",
        arguments: [
            ("\u{1B}[2J", "\\u{1B}[2J"),
            ("a\u{07}b", "a\\u{07}b"),
            ("over\rwrite", "over\\rwrite"),
            ("\u{1B}]0;title\u{07}", "\\u{1B}]0;title\\u{07}"),
            ("c1 \u{9B}31m", "c1 \\u{009B}31m"),
            ("rtl \u{202E}txt", "rtl \\u{202E}txt"),
            ("line\nbreak", "line\\nbreak"),
        ]
    )
    func escapes(input: String, expected: String) {
        #expect(DisplayText.escapingControls(input) == expected)
    }

    @Test("printable text, including non-ASCII letters, is unchanged")
    func printableUnchanged() {
        let text = "Contoso GmbH – Zürich 東京"
        #expect(DisplayText.escapingControls(text) == text)
    }

    @Test("a limit cuts long text and marks the cut")
    func limit() {
        #expect(DisplayText.escapingControls(String(repeating: "x", count: 10), limit: 4) == "xxxx…")
        #expect(DisplayText.escapingControls("short", limit: 10) == "short")
    }
}
