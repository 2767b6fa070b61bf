import CertVaultCore
@testable import CertVaultServer
import Foundation
import Testing

@Suite("The dashboard's expiry chart: certificates expiring per month, drawn on the server")
struct AdminExpiryChartTests {
    static func at(_ text: String) throws -> Int64 { try #require(UTCTime.parse(text)) }

    /// The bars of an SVG as (data-month, data-count), in document order.
    static func bars(_ svg: String) throws -> [(month: String, count: Int)] {
        let regex = try NSRegularExpression(pattern: #"<rect class="bar"[^>]* data-month="([0-9-]+)" data-count="([0-9]+)""#)
        let range = NSRange(svg.startIndex..., in: svg)
        return regex.matches(in: svg, range: range).map { match in
            (String(svg[Range(match.range(at: 1), in: svg)!]), Int(svg[Range(match.range(at: 2), in: svg)!])!)
        }
    }

    @Test("the current month and the 24 after it, across the turn of the year")
    func monthsWrapTheYear() throws {
        let chart = ExpiryChart(now: try Self.at("2026-12-02T03:00:00Z"), notAfter: [])
        #expect(chart.months.count == 25)
        #expect(chart.months.first?.key == "2026-12")
        #expect(chart.months[1].key == "2027-01")
        #expect(chart.months[13].key == "2028-01")
        #expect(chart.months.last?.key == "2028-12")
        let january = ExpiryChart(now: try Self.at("2027-01-31T23:59:59Z"), notAfter: [])
        #expect(january.months.first?.key == "2027-01")
        #expect(january.months.last?.key == "2029-01")
        let twoYears = ExpiryChart(now: try Self.at("2026-12-02T03:00:00Z"), notAfter: [try Self.at("2026-12-02T03:00:00Z") + 730 * 86_400])
        #expect(twoYears.months.last?.count == 1, "a certificate of 730 days issued now is in the last bar")
    }

    @Test("a certificate belongs to the UTC month of its notAfter: the last second of a month and the first of the next")
    func monthBoundaries() throws {
        let now = try Self.at("2026-12-02T03:00:00Z")
        let chart = ExpiryChart(
            now: now,
            notAfter: [
                try Self.at("2026-12-31T23:59:59Z"), try Self.at("2027-01-01T00:00:00Z"), try Self.at("2027-01-31T12:00:00Z"),
                try Self.at("2027-02-28T23:59:59Z"), try Self.at("2027-03-01T00:00:00Z"), now,
            ])
        let counts = Dictionary(uniqueKeysWithValues: chart.months.map { ($0.key, $0.count) })
        #expect(counts["2026-12"] == 2, "the last second of December and the very instant of now")
        #expect(counts["2027-01"] == 2)
        #expect(counts["2027-02"] == 1)
        #expect(counts["2027-03"] == 1)
        #expect(chart.total == 6)
        #expect(chart.expired == 0)
    }

    @Test("expired certificates and those after the last month are counted apart, not in a bar")
    func expiredAndLater() throws {
        let now = try Self.at("2026-12-02T03:00:00Z")
        let chart = ExpiryChart(
            now: now,
            notAfter: [
                now - 1, try Self.at("2026-12-01T00:00:00Z"), try Self.at("2020-01-01T00:00:00Z"),
                try Self.at("2028-12-31T23:59:59Z"), try Self.at("2029-01-01T00:00:00Z"), try Self.at("2040-06-01T00:00:00Z"),
            ])
        #expect(chart.expired == 3)
        #expect(chart.later == 2)
        #expect(chart.months.last?.count == 1, "the last second of the last month is in its bar")
        #expect(chart.total == 1)
        #expect(
            chart.summary == "1 certificate expires in these 24 months; the most in December 2028 (1). "
                + "3 certificates have already expired. 2 certificates expire later.")
        let table = chart.table()
        #expect(table.contains(#"<tr id="expiry-expired"><th scope="row">Already expired</th><td class="number">3</td>"#))
        #expect(table.contains(#"<tr id="expiry-later"><th scope="row">Later</th><td class="number">2</td>"#))
    }

    @Test("an empty vault: 25 empty bars, a chart that says so, no division by zero")
    func emptyVault() throws {
        let chart = ExpiryChart(now: try Self.at("2026-12-02T03:00:00Z"), notAfter: [])
        let svg = chart.svg()
        let bars = try Self.bars(svg)
        #expect(bars.count == 25)
        #expect(bars.allSatisfy { $0.count == 0 })
        #expect(!svg.contains("height=\"-"))
        #expect(chart.summary == "No certificate expires in these 24 months.")
        #expect(svg.contains("<desc id=\"expiry-chart-desc\">No certificate expires in these 24 months.</desc>"))
    }

    @Test("the SVG: svg#expiry-chart with a title and a description it is labelled by, one rect.bar per month with data-month and data-count, the tallest bar the full height")
    func svgStructure() throws {
        let now = try Self.at("2026-12-02T03:00:00Z")
        let chart = ExpiryChart(
            now: now,
            notAfter: [try Self.at("2027-03-10T00:00:00Z"), try Self.at("2027-03-20T00:00:00Z"), try Self.at("2027-05-01T00:00:00Z")])
        let svg = chart.svg()
        #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"expiry-chart\""))
        #expect(svg.contains("role=\"img\""))
        #expect(svg.contains("aria-labelledby=\"expiry-chart-title expiry-chart-desc\""))
        #expect(svg.contains("<title id=\"expiry-chart-title\">Certificates expiring per month, December 2026 to December 2028</title>"))
        #expect(svg.contains("3 certificates expire in these 24 months; the most in March 2027 (2)."))
        let bars = try Self.bars(svg)
        #expect(bars.map(\.month) == chart.months.map(\.key))
        #expect(bars.map(\.count) == chart.months.map(\.count))
        #expect(svg.contains("data-month=\"2027-03\" data-count=\"2\"><title>March 2027: 2 certificates</title>"))
        #expect(svg.contains("height=\"\(ExpiryChart.Layout.plotHeight)\" data-month=\"2027-03\""), "the largest month fills the plot")
        #expect(svg.contains("height=\"\(ExpiryChart.Layout.plotHeight / 2)\" data-month=\"2027-05\""))
        #expect(!svg.contains("style="), "no inline style: the page's CSP forbids it")
        // Years under the first month and under each January.
        #expect(svg.contains(">2026</text>") && svg.contains(">2027</text>") && svg.contains(">2028</text>"))
        // Every element that is opened is closed.
        for element in ["svg", "g", "rect", "text", "title", "desc"] {
            let opened = svg.components(separatedBy: "<\(element) ").count + svg.components(separatedBy: "<\(element)>").count - 2
            #expect(opened == svg.components(separatedBy: "</\(element)>").count - 1, "<\(element)> balanced")
        }
    }

    @Test("the table: one row per month with its data-month, the same numbers as the bars")
    func tableMatchesBars() throws {
        let chart = ExpiryChart(now: try Self.at("2026-12-02T03:00:00Z"), notAfter: [try Self.at("2027-01-05T00:00:00Z")])
        let table = chart.table()
        #expect(table.hasPrefix("<table id=\"expiry-table\""))
        #expect(table.contains("<tr data-month=\"2027-01\"><th scope=\"row\">January 2027</th><td class=\"number\">1</td></tr>"))
        #expect(table.components(separatedBy: "<tr data-month=").count - 1 == 25)
    }

    @Test("escaping: markup in text becomes character references; control characters are replaced")
    func escaping() {
        #expect(AdminHTML.escape(#"<script>alert("x")</script> & 'q'"#)
            == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;")
        #expect(AdminHTML.escape("a\u{1B}[31mb\u{7}") == "a\u{FFFD}[31mb\u{FFFD}")
    }
}
