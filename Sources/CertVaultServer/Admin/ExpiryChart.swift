import CertVaultCore

/// Certificates expiring per calendar month (UTC) over the next 24 months, drawn on the server as SVG
/// with a table of the same numbers: the dashboard's chart works without JavaScript and reads out
/// to a screen reader (the SVG has a `<title>` and a `<desc>` that says the totals; the table has
/// every month).
///
/// A pure function of the time and the expiry instants. The bars are calendar months: the current
/// one (from `now` on) and the 24 after it, 25 bars, so that everything that expires within 24
/// months of `now` is in a bar (a certificate of the default policy, 730 days, issued today expires
/// in the 25th calendar month). A certificate that expired before `now` is counted as expired (not
/// in a bar); one after the last month as later. Every text written is escaped, although all of it
/// is made from numbers and month names.
public struct ExpiryChart: Sendable, Hashable {
    /// One bar: a calendar month and the certificates whose `notAfter` falls in it.
    public struct Month: Sendable, Hashable {
        public let year: Int
        /// 1 to 12.
        public let month: Int
        public let count: Int

        /// `YYYY-MM`, the bar's `data-month`.
        public var key: String { "\(Self.pad(year, 4))-\(Self.pad(month, 2))" }
        /// "March 2027".
        public var name: String { "\(ExpiryChart.monthNames[month - 1]) \(year)" }
        /// "Mar".
        var shortName: String { String(ExpiryChart.monthNames[month - 1].prefix(3)) }

        static func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
    }

    /// The months, the current one first.
    public let months: [Month]
    /// Certificates whose `notAfter` is before `now`.
    public let expired: Int
    /// Certificates that expire after the last month.
    public let later: Int

    /// The months after the current one that the dashboard shows (one bar more than this).
    public static let defaultMonthsAhead = 24

    static let monthNames = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
        "December",
    ]

    /// Counts `notAfter` instants (seconds since 1970, UTC) by month: the month of `now` and the
    /// `monthsAhead` after it.
    public init(now: Int64, notAfter: [Int64], monthsAhead: Int = ExpiryChart.defaultMonthsAhead) {
        precondition(monthsAhead >= 0, "a chart has at least the current month")
        let count = monthsAhead + 1
        let (year, month) = Self.yearMonth(now)
        var counts = [Int](repeating: 0, count: count)
        var expired = 0
        var later = 0
        for instant in notAfter {
            if instant < now {
                expired += 1
                continue
            }
            let (y, m) = Self.yearMonth(instant)
            let index = (y - year) * 12 + (m - month)
            if index < count { counts[index] += 1 } else { later += 1 }
        }
        self.months = (0..<count).map { offset in
            let zeroBased = month - 1 + offset
            return Month(year: year + zeroBased / 12, month: zeroBased % 12 + 1, count: counts[offset])
        }
        self.expired = expired
        self.later = later
    }

    /// The certificates in the months shown.
    public var total: Int { months.reduce(0) { $0 + $1.count } }

    /// The UTC calendar year and month (1...12) of an instant.
    static func yearMonth(_ seconds: Int64) -> (year: Int, month: Int) {
        let date = Array(UTCTime.date(seconds).utf8)  // YYYY-MM-DD
        func number(_ range: Range<Int>) -> Int { range.reduce(0) { $0 * 10 + Int(date[$1] - UInt8(ascii: "0")) } }
        return (number(0..<4), number(5..<7))
    }

    // MARK: Text

    /// The chart's title: "Certificates expiring per month, December 2026 to November 2028".
    public var title: String {
        "Certificates expiring per month, \(months.first!.name) to \(months.last!.name)"
    }

    /// One or two sentences with the totals, for the SVG's `<desc>` and the page.
    public var summary: String {
        var parts: [String] = []
        if total == 0 {
            parts.append("No certificate expires in these \(months.count - 1) months.")
        } else {
            let most = months.max { $0.count < $1.count }!
            parts.append(
                "\(Self.certificates(total)) \(total == 1 ? "expires" : "expire") in these \(months.count - 1) months; "
                    + "the most in \(most.name) (\(most.count)).")
        }
        if expired > 0 { parts.append("\(Self.certificates(expired)) \(expired == 1 ? "has" : "have") already expired.") }
        if later > 0 { parts.append("\(Self.certificates(later)) \(later == 1 ? "expires" : "expire") later.") }
        return parts.joined(separator: " ")
    }

    static func certificates(_ count: Int) -> String { count == 1 ? "1 certificate" : "\(count) certificates" }

    // MARK: SVG

    /// The layout in SVG user units.
    enum Layout {
        static let left = 44
        static let right = 8
        static let top = 22
        static let plotHeight = 150
        static let bottom = 40
        static let slot = 30
        static let barWidth = 20
    }

    /// The SVG element `svg#expiry-chart`: one `rect.bar` per month with `data-month` and
    /// `data-count`, the count above each bar that is not empty, month names under the bars (the
    /// year under January and the first month), a y axis from 0 to the largest count.
    public func svg() -> String {
        let width = Layout.left + months.count * Layout.slot + Layout.right
        let height = Layout.top + Layout.plotHeight + Layout.bottom
        let baseline = Layout.top + Layout.plotHeight
        let scale = max(1, months.map(\.count).max() ?? 0)
        var out = ""
        out += "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"expiry-chart\" class=\"chart\" role=\"img\""
        out += " viewBox=\"0 0 \(width) \(height)\" aria-labelledby=\"expiry-chart-title expiry-chart-desc\">"
        out += "<title id=\"expiry-chart-title\">\(Self.escape(title))</title>"
        out += "<desc id=\"expiry-chart-desc\">\(Self.escape(summary))</desc>"
        // The y axis: 0, the middle (when it is a whole number of certificates) and the top.
        var ticks = [0, scale]
        if scale % 2 == 0 && scale >= 2 { ticks.insert(scale / 2, at: 1) }
        out += "<g class=\"axis y-axis\" aria-hidden=\"true\">"
        for tick in ticks {
            let y = baseline - tick * Layout.plotHeight / scale
            out += "<line class=\"grid\" x1=\"\(Layout.left)\" x2=\"\(width - Layout.right)\" y1=\"\(y)\" y2=\"\(y)\"/>"
            out += "<text class=\"tick\" x=\"\(Layout.left - 6)\" y=\"\(y + 4)\" text-anchor=\"end\">\(tick)</text>"
        }
        out += "</g>"
        out += "<g class=\"bars\">"
        for (offset, month) in months.enumerated() {
            let x = Layout.left + offset * Layout.slot + (Layout.slot - Layout.barWidth) / 2
            let barHeight = month.count * Layout.plotHeight / scale
            let label = "\(month.name): \(Self.certificates(month.count))"
            out += "<rect class=\"bar\" x=\"\(x)\" y=\"\(baseline - barHeight)\" width=\"\(Layout.barWidth)\""
            out += " height=\"\(barHeight)\" data-month=\"\(Self.escape(month.key))\" data-count=\"\(month.count)\">"
            out += "<title>\(Self.escape(label))</title></rect>"
            if month.count > 0 {
                out += "<text class=\"bar-label\" x=\"\(x + Layout.barWidth / 2)\" y=\"\(baseline - barHeight - 4)\""
                out += " text-anchor=\"middle\" aria-hidden=\"true\">\(month.count)</text>"
            }
        }
        out += "</g>"
        out += "<g class=\"axis x-axis\" aria-hidden=\"true\">"
        out += "<line class=\"baseline\" x1=\"\(Layout.left)\" x2=\"\(width - Layout.right)\" y1=\"\(baseline)\" y2=\"\(baseline)\"/>"
        for (offset, month) in months.enumerated() {
            let x = Layout.left + offset * Layout.slot + Layout.slot / 2
            out += "<text class=\"month\" x=\"\(x)\" y=\"\(baseline + 15)\" text-anchor=\"middle\">\(Self.escape(month.shortName))</text>"
            if offset == 0 || month.month == 1 {
                out += "<text class=\"year\" x=\"\(x)\" y=\"\(baseline + 31)\" text-anchor=\"middle\">\(month.year)</text>"
            }
        }
        out += "</g></svg>"
        return out
    }

    // MARK: Table

    /// The same numbers as a table `table#expiry-table` (a row per month, `data-month` on each, then
    /// the expired and later certificates), for screen readers and anyone who wants the figures.
    public func table() -> String {
        var out = "<table id=\"expiry-table\" class=\"data\"><caption>\(Self.escape(title))</caption>"
        out += "<thead><tr><th scope=\"col\">Month</th><th scope=\"col\" class=\"number\">Certificates expiring</th></tr></thead><tbody>"
        for month in months {
            out += "<tr data-month=\"\(Self.escape(month.key))\"><th scope=\"row\">\(Self.escape(month.name))</th>"
            out += "<td class=\"number\">\(month.count)</td></tr>"
        }
        out += "</tbody><tfoot>"
        out += "<tr id=\"expiry-expired\"><th scope=\"row\">Already expired</th><td class=\"number\">\(expired)</td></tr>"
        out += "<tr id=\"expiry-later\"><th scope=\"row\">Later</th><td class=\"number\">\(later)</td></tr>"
        out += "</tfoot></table>"
        return out
    }

    /// Escapes text for HTML and SVG (element content and quoted attributes).
    static func escape(_ text: String) -> String { AdminHTML.escape(text) }
}
