import CertVaultCore
import Testing

@Suite("UTC timestamps")
struct UTCTimeTests {
    @Test("formatting never traps: values beyond year 0 or 9999 are written as the nearest representable instant", arguments: [
        (Int64.max, "9999-12-31T23:59:59Z"), (Int64.max - 1, "9999-12-31T23:59:59Z"), (253_402_300_800, "9999-12-31T23:59:59Z"),
        (-100_000_000_000, "0000-01-01T00:00:00Z"), (Int64.min, "0000-01-01T00:00:00Z"), (-62_167_219_201, "0000-01-01T00:00:00Z"),
    ])
    func outOfRange(seconds: Int64, expected: String) {
        #expect(UTCTime.dateTime(seconds) == expected)
        #expect(UTCTime.date(seconds) == String(expected.prefix(10)))
    }

    @Test("in range, formatting and parsing agree", arguments: [Int64(0), 1_700_000_000, -1, 253_402_300_799, -62_167_219_200])
    func roundTrip(seconds: Int64) {
        #expect(UTCTime.parse(UTCTime.dateTime(seconds)) == seconds)
    }
}
