/// Escaping for the HTML the dashboard writes itself (the chart; the templates escape with
/// Mustache's `{{...}}`).
enum AdminHTML {
    /// `&`, `<`, `>`, `"` and `'` as character references: safe in element content and in quoted
    /// attribute values of HTML and SVG. Control characters other than tab and line feed become
    /// U+FFFD, so nothing invisible reaches the page.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\t", "\n": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                    out += "\u{FFFD}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
