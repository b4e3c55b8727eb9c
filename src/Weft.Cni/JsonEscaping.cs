using System.Text;
using System.Text.Encodings.Web;

namespace Weft.Cni;

/// <summary>
/// The escaping weft-cni's JSON writers use: only what JSON requires (<c>"</c>, <c>\</c>, control characters) plus DEL
/// and U+2028/U+2029; everything else is written as UTF-8. The inbox encoders
/// (<see cref="JavaScriptEncoder.Default"/>, <see cref="JavaScriptEncoder.UnsafeRelaxedJsonEscaping"/>) build a table of
/// all 65,536 code points when first used, a measurable part of a plugin run that lives for a few milliseconds.
/// Ill-formed UTF-16/UTF-8 is reported to the writer, which replaces it with U+FFFD.
/// </summary>
public sealed class JsonEscaping : JavaScriptEncoder
{
    public static readonly JsonEscaping Minimal = new();

    private JsonEscaping()
    {
    }

    public override int MaxOutputCharactersPerInputCharacter => 12;

    public override bool WillEncode(int unicodeScalar) =>
        unicodeScalar < 0x20 || unicodeScalar is '"' or '\\' or 0x7F or 0x2028 or 0x2029;

    public override unsafe int FindFirstCharacterToEncode(char* text, int textLength)
    {
        for (var i = 0; i < textLength; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < textLength && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
                continue;
            }

            if (WillEncode(c) || char.IsSurrogate(c))
            {
                return i;
            }
        }

        return -1;
    }

    public override int FindFirstCharacterToEncodeUtf8(ReadOnlySpan<byte> utf8Text)
    {
        var i = 0;
        while (i < utf8Text.Length)
        {
            var b = utf8Text[i];
            if (b < 0x80)
            {
                if (WillEncode(b))
                {
                    return i;
                }

                i++;
                continue;
            }

            if (Rune.DecodeFromUtf8(utf8Text[i..], out var rune, out var consumed) != System.Buffers.OperationStatus.Done || WillEncode(rune.Value))
            {
                return i;
            }

            i += consumed;
        }

        return -1;
    }

    public override unsafe bool TryEncodeUnicodeScalar(int unicodeScalar, char* buffer, int bufferLength, out int numberOfCharactersWritten)
    {
        char esc = unicodeScalar switch
        {
            '"' => '"',
            '\\' => '\\',
            '\n' => 'n',
            '\r' => 'r',
            '\t' => 't',
            '\b' => 'b',
            '\f' => 'f',
            _ => '\0',
        };
        if (esc != '\0')
        {
            if (bufferLength < 2)
            {
                numberOfCharactersWritten = 0;
                return false;
            }

            buffer[0] = '\\';
            buffer[1] = esc;
            numberOfCharactersWritten = 2;
            return true;
        }

        if (!WillEncode(unicodeScalar))
        {
            // Not ours to escape (the writer asks only for what WillEncode names, or U+FFFD for ill-formed input).
            if (!Rune.TryCreate(unicodeScalar, out var rune) || !rune.TryEncodeToUtf16(new Span<char>(buffer, bufferLength), out numberOfCharactersWritten))
            {
                numberOfCharactersWritten = 0;
                return false;
            }

            return true;
        }

        if (bufferLength < 6)
        {
            numberOfCharactersWritten = 0;
            return false;
        }

        const string hex = "0123456789abcdef";
        buffer[0] = '\\';
        buffer[1] = 'u';
        buffer[2] = hex[(unicodeScalar >> 12) & 0xF];
        buffer[3] = hex[(unicodeScalar >> 8) & 0xF];
        buffer[4] = hex[(unicodeScalar >> 4) & 0xF];
        buffer[5] = hex[unicodeScalar & 0xF];
        numberOfCharactersWritten = 6;
        return true;
    }
}
