import NIOCore

/// Rows in PostgreSQL's COPY text format, written straight into a byte buffer: a million rows go
/// through here, so no Foundation formatting (uuids, times and numbers are written digit by digit).
struct CopyRows {
    private(set) var buffer: ByteBuffer
    private var fieldsInRow = 0
    private(set) var rowCount = 0

    init(capacity: Int = 1 << 20) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
    }

    private mutating func separator() {
        if fieldsInRow > 0 { buffer.writeInteger(UInt8(ascii: "\t")) }
        fieldsInRow += 1
    }

    mutating func endRow() {
        buffer.writeInteger(UInt8(ascii: "\n"))
        fieldsInRow = 0
        rowCount += 1
    }

    mutating func null() {
        separator()
        buffer.writeStaticString("\\N")
    }

    /// Text, escaped as COPY requires (backslash, tab, newline, carriage return).
    mutating func text(_ value: String) {
        separator()
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
            case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
            case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
            case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
            default: buffer.writeInteger(byte)
            }
        }
    }

    /// Text known to need no escaping (generated names, JSON without control characters).
    mutating func plain(_ value: String) {
        separator()
        buffer.writeString(value)
    }

    mutating func integer(_ value: Int) {
        separator()
        writeDigits(value)
    }

    mutating func bool(_ value: Bool) {
        separator()
        buffer.writeInteger(value ? UInt8(ascii: "t") : UInt8(ascii: "f"))
    }

    mutating func uuid(_ value: SeedID) {
        separator()
        let hex: StaticString = "0123456789abcdef"
        hex.withUTF8Buffer { digits in
            for index in 0..<16 {
                if index == 4 || index == 6 || index == 8 || index == 10 { buffer.writeInteger(UInt8(ascii: "-")) }
                let byte = value.byte(index)
                buffer.writeInteger(digits[Int(byte >> 4)])
                buffer.writeInteger(digits[Int(byte & 0xF)])
            }
        }
    }

    /// A UTC time as `YYYY-MM-DD HH:MM:SS.ffffff+00`, from microseconds since the Unix epoch.
    mutating func timestamp(microseconds: Int64) {
        separator()
        let seconds = microseconds >= 0 ? microseconds / 1_000_000 : (microseconds - 999_999) / 1_000_000
        let fraction = Int(microseconds - seconds * 1_000_000)
        let days = Int(seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400)
        let secondOfDay = Int(seconds - Int64(days) * 86_400)
        let (year, month, day) = Self.civil(fromDays: days)
        writePadded(year, width: 4)
        buffer.writeInteger(UInt8(ascii: "-"))
        writePadded(month, width: 2)
        buffer.writeInteger(UInt8(ascii: "-"))
        writePadded(day, width: 2)
        buffer.writeInteger(UInt8(ascii: " "))
        writePadded(secondOfDay / 3600, width: 2)
        buffer.writeInteger(UInt8(ascii: ":"))
        writePadded(secondOfDay / 60 % 60, width: 2)
        buffer.writeInteger(UInt8(ascii: ":"))
        writePadded(secondOfDay % 60, width: 2)
        buffer.writeInteger(UInt8(ascii: "."))
        writePadded(fraction, width: 6)
        buffer.writeStaticString("+00")
    }

    /// A point as EWKT, which PostGIS parses into geography.
    mutating func point(latitude: Double, longitude: Double) {
        separator()
        buffer.writeStaticString("SRID=4326;POINT(")
        writeFixed(longitude)
        buffer.writeInteger(UInt8(ascii: " "))
        writeFixed(latitude)
        buffer.writeInteger(UInt8(ascii: ")"))
    }

    /// Takes the bytes written so far, leaving the buffer empty (`rowCount` keeps counting).
    mutating func take() -> ByteBuffer {
        let taken = buffer
        buffer = ByteBufferAllocator().buffer(capacity: taken.capacity)
        return taken
    }

    private mutating func writeDigits(_ value: Int) {
        if value < 0 {
            buffer.writeInteger(UInt8(ascii: "-"))
            writeDigits(-value)
            return
        }
        if value >= 10 { writeDigits(value / 10) }
        buffer.writeInteger(UInt8(ascii: "0") + UInt8(value % 10))
    }

    private mutating func writePadded(_ value: Int, width: Int) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            buffer.writeInteger(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
            rest %= divisor
            divisor /= 10
        }
    }

    /// Six decimals: about 0.1 m, plenty for generated places.
    private mutating func writeFixed(_ value: Double) {
        let scaled = Int((abs(value) * 1_000_000).rounded())
        if value < 0 { buffer.writeInteger(UInt8(ascii: "-")) }
        writeDigits(scaled / 1_000_000)
        buffer.writeInteger(UInt8(ascii: "."))
        writePadded(scaled % 1_000_000, width: 6)
    }

    /// Proleptic Gregorian date from days since 1970-01-01 (H. Hinnant's civil_from_days).
    static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPrime = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthPrime + 2) / 5 + 1
        let month = monthPrime < 10 ? monthPrime + 3 : monthPrime - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// A 128-bit id written as a uuid. Post ids are time-ordered (UUIDv7 layout: milliseconds first),
/// so the primary-key index of a million posts is appended to rather than split at random.
public struct SeedID: Hashable, Sendable {
    let high: UInt64
    let low: UInt64

    func byte(_ index: Int) -> UInt8 {
        index < 8 ? UInt8(truncatingIfNeeded: high >> (56 - 8 * index)) : UInt8(truncatingIfNeeded: low >> (56 - 8 * (index - 8)))
    }

    /// Version 4 layout from random bits.
    static func random(_ random: inout SeededRandom) -> SeedID {
        SeedID(high: random.next() & ~0xF000 | 0x4000, low: random.next() & ~(0xC << 60) | (0x8 << 60))
    }

    /// Version 7 layout: 48 bits of Unix milliseconds, then random bits.
    static func timeOrdered(milliseconds: Int64, _ random: inout SeededRandom) -> SeedID {
        let high = UInt64(milliseconds) << 16 | 0x7000 | (random.next() & 0x0FFF)
        return SeedID(high: high, low: random.next() & ~(0xC << 60) | (0x8 << 60))
    }

    public var text: String {
        var rows = CopyRows(capacity: 40)
        rows.uuid(self)
        return String(buffer: rows.buffer)
    }
}
