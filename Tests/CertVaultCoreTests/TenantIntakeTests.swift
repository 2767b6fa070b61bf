import CertVaultCore
import Testing

@Suite("Tenant CSV files")
struct TenantIntakeTests {
    @Test("reads tenant, org and domain columns in any order, with quotes")
    func reads() throws {
        let csv = """
            # providers' export
            domain,tenant,org
            contoso.onmicrosoft.com,contoso,"Contoso, Ltd"
            ,fabrikam,"The ""Fabrikam"" Group"\r
            
            tailspin.onmicrosoft.com , tailspin ,
            """
        let rows = try TenantIntake.parseCSV(csv, source: "t.csv")
        #expect(rows.count == 3)
        #expect(rows[0] == TenantIntake(tenant: try TenantID("contoso"), org: "Contoso, Ltd", domain: "contoso.onmicrosoft.com"))
        #expect(rows[1].org == "The \"Fabrikam\" Group")
        #expect(rows[1].domain == nil)
        #expect(rows[2].tenant.rawValue == "tailspin")
        #expect(rows[2].org == nil)
    }

    @Test("bad files name the line and the problem", arguments: [
        ("tenant,orgname\na,b", "t.csv:1: unknown column 'orgname'"),
        ("org\nContoso", "t.csv:1: there is no 'tenant' column"),
        ("tenant\ncontoso\nfabrikam\ncontoso", "t.csv:4: tenant 'contoso' is listed again (first on line 2)"),
        ("tenant\n../../etc", "t.csv:2: Invalid tenant id"),
        ("tenant,org\nok,\"unclosed", "t.csv:2: a quoted field is not closed"),
        ("tenant,org\nok,a,b", "t.csv:2: 3 fields where the header has 2"),
        ("tenant,org\nok,\"a\"b", "t.csv:2: a quoted field is not closed, or text follows its closing quote"),
        ("tenant", "t.csv:1: the file lists no tenants"),
        ("", "t.csv:1: the file has no header row"),
    ])
    func refuses(_ csv: String, _ message: String) throws {
        let error = try #require(throws: CertVaultError.self) { try TenantIntake.parseCSV(csv, source: "t.csv") }
        #expect(error.code == .invalidInput)
        #expect(error.reason.contains(message), "\(error.reason)")
    }
}

@Suite("Intake CSV reader (issue --from and onboard start --from)")
struct CSVTableTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test("a UTF-8 byte order mark is skipped, in bytes and in text")
    func byteOrderMark() throws {
        let file = [0xEF, 0xBB, 0xBF] + Self.bytes("tenant,org\ncontoso,Contoso\n")
        let rows = try TenantIntake.parseCSV(bytes: file, source: "bom.csv")
        #expect(rows.map(\.tenant.rawValue) == ["contoso"])
        #expect(try TenantIntake.parseCSV("\u{FEFF}tenant\nfabrikam", source: "bom.csv").map(\.tenant.rawValue) == ["fabrikam"])
    }

    @Test("CR alone, LF and CRLF all end a line, and lines are counted as an editor does")
    func lineEndings() throws {
        let rows = try TenantIntake.parseCSV("tenant,org\rorgabc,A\rorgdef,B\r", source: "mac.csv")
        #expect(rows.map(\.tenant.rawValue) == ["orgabc", "orgdef"])
        let error = try #require(throws: CertVaultError.self) {
            try TenantIntake.parseCSV("tenant\r\na\rb\nB\r\n", source: "mixed.csv")
        }
        #expect(error.reason.hasPrefix("mixed.csv:4: Invalid tenant id"), "\(error.reason)")
    }

    @Test("bytes that are not UTF-8 are refused with the line, never replaced")
    func invalidUTF8() throws {
        let file = Self.bytes("tenant,org\ncontoso,Contoso\nfabrikam,Fabr") + [0xFF, 0xFE] + Self.bytes("ikam\n")
        let error = try #require(throws: CertVaultError.self) { try TenantIntake.parseCSV(bytes: file, source: "latin1.csv") }
        #expect(error.code == .invalidInput)
        #expect(error.reason.hasPrefix("latin1.csv:3: the file is not UTF-8 text"), "\(error.reason)")
        #expect(!error.reason.contains("\u{FFFD}"))
    }

    @Test("a quoted field may span lines; later records keep their own line numbers")
    func multiLineField() throws {
        let rows = try CSVTable.rows("tenant,note\na,\"one\ntwo\r\nthree\"\nb,\"x\ry\"\nc,plain\n", source: "m.csv")
        #expect(rows.map(\.line) == [1, 2, 5, 7])
        #expect(rows[1].fields == ["a", "one\ntwo\r\nthree"])
        #expect(rows[2].fields == ["b", "x\ry"])
        let error = try #require(throws: CertVaultError.self) {
            try CSVTable.rows("tenant,note\na,\"one\ntwo\"\nb,\"unclosed\nc,d\n", source: "m.csv")
        }
        #expect(error.reason == "m.csv:4: a quoted field is not closed, or text follows its closing quote.")
    }

    @Test("a line starting with # is a comment, quotes and all; a # inside a quoted field or later is text")
    func comments() throws {
        let rows = try CSVTable.rows("# Bob's \"list\nname,note\r# second, \"comment\r\n\"#1\",\"a\n# not a comment\"\nx,#y\n#", source: "c.csv")
        #expect(rows.map(\.line) == [2, 4, 6])
        #expect(rows.map(\.fields) == [["name", "note"], ["#1", "a\n# not a comment"], ["x", "#y"]])
    }

    @Test("an empty last field survives a last line without a line break")
    func lastEmptyField() throws {
        #expect(try CSVTable.rows("a,b\nc,", source: "x.csv").map(\.fields) == [["a", "b"], ["c", ""]])
    }

    @Test("control characters in the file are refused with the line and shown escaped",
          arguments: ["\u{1B}]0;owned\u{07}", "\u{1B}[2J", "\u{08}", "\u{9B}31m", "\u{2028}", "\u{00}"])
    func controlCharacters(_ hostile: String) throws {
        for csv in ["tenant,org\ncontoso,Con\(hostile)toso\n", "ten\(hostile)ant,org\r\ncontoso,x"] {
            let error = try #require(throws: CertVaultError.self) { try TenantIntake.parseCSV(csv, source: "evil.csv") }
            #expect(error.code == .invalidInput)
            #expect(error.reason.contains("a control character"), "\(error.reason)")
            #expect(!error.reason.unicodeScalars.contains(where: DisplayText.needsEscape), "\(error.reason.debugDescription)")
            #expect(error.reason.hasPrefix(csv.hasPrefix("tenant,") ? "evil.csv:2:" : "evil.csv:1:"), "\(error.reason)")
        }
    }

    @Test("tabs, line breaks and bidi overrides in org or domain are refused, and echoed escaped")
    func invisibleInNames() throws {
        for csv in ["tenant,org\ncontoso,\"Con\ntoso\"", "tenant,org\ncontoso,Con\ttoso", "tenant,domain\ncontoso,moc.\u{202E}evil"] {
            let error = try #require(throws: CertVaultError.self) { try TenantIntake.parseCSV(csv, source: "t.csv") }
            #expect(error.reason.contains("t.csv:2: "), "\(error.reason)")
            #expect(error.reason.contains("control or invisible formatting character"), "\(error.reason)")
            #expect(!error.reason.unicodeScalars.contains(where: DisplayText.needsEscape))
        }
    }

    @Test("a header name with invisible characters is echoed escaped")
    func headerEchoedEscaped() throws {
        let error = try #require(throws: CertVaultError.self) {
            try TenantIntake.parseCSV("tenant,\"o\trg\u{202E}\"\ncontoso,x", source: "t.csv")
        }
        #expect(error.reason.contains("unknown column 'o\\trg\\u{202E}'"), "\(error.reason)")
    }
}
