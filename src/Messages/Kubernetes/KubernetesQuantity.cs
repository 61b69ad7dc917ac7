using System.Globalization;
using System.Numerics;
using System.Text;

namespace Scheduler.Messages.Kubernetes;

/// <summary>How a quantity was written, which decides how it is written back.</summary>
public enum QuantityFormat
{
    /// <summary><c>500m</c>, <c>1</c>, <c>2k</c>, <c>1G</c>.</summary>
    DecimalSI,

    /// <summary><c>128Mi</c>, <c>1Gi</c>.</summary>
    BinarySI,

    /// <summary><c>1e3</c>, <c>5E-3</c>.</summary>
    DecimalExponent,
}

/// <summary>
/// A Kubernetes resource quantity read as the API server reads it (apimachinery's <c>resource.ParseQuantity</c>): the
/// same grammar and suffixes, values rounded up to a whole nano (asking for some gives some), binary values capped at
/// 2^63-1, and <see cref="ToString"/> in the API server's canonical form (<c>1024Mi</c> → <c>1Gi</c>, <c>0.5</c> →
/// <c>500m</c>, <c>-0</c> → <c>0</c>). The one quantity type of the solution: config checks, pod building and the
/// embedded cluster's validation all parse with it; KubernetesClient's <c>ResourceQuantity</c> is only the wire type and
/// is made from the canonical text. Unlike Kubernetes, absurdly large values (over 10^28, or text over 256 characters) are
/// refused rather than computed, so untrusted text costs little and every value fits a decimal.
/// </summary>
public readonly struct KubernetesQuantity : IEquatable<KubernetesQuantity>, IComparable<KubernetesQuantity>
{
    /// <summary>apimachinery's ErrFormatWrong, word for word: what the API server answers for a malformed quantity.</summary>
    public const string FormatError = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

    /// <summary>apimachinery's ErrSuffix.</summary>
    public const string SuffixError = "unable to parse quantity's suffix";

    private const int MaxLength = 256;
    private static readonly BigInteger NanosPerUnit = BigInteger.Pow(10, 9);
    private static readonly BigInteger Largest = BigInteger.Pow(10, 37); // 10^28 in nanos: fits a decimal
    private static readonly BigInteger BinaryCap = new BigInteger(long.MaxValue) * NanosPerUnit;

    private KubernetesQuantity(BigInteger nanos, QuantityFormat format)
    {
        Nanos = nanos;
        Format = format;
    }

    /// <summary>The value in units of 10^-9 (the finest a quantity holds), signed.</summary>
    public BigInteger Nanos { get; }

    public QuantityFormat Format { get; }

    public bool IsNegative => Nanos.Sign < 0;

    public bool IsZero => Nanos.IsZero;

    /// <summary>The value as a decimal (every quantity this type accepts fits).</summary>
    public decimal ToDecimal()
    {
        var whole = BigInteger.DivRem(Nanos, NanosPerUnit, out var nanos);
        return (decimal)whole + (decimal)nanos / 1_000_000_000m;
    }

    /// <summary>Parses <paramref name="text"/> as the API server does; a malformed one throws <see cref="FormatException"/>.</summary>
    public static KubernetesQuantity Parse(string text) =>
        TryParse(text, out var quantity, out var error) ? quantity : throw new FormatException($"\"{text}\": {error}");

    /// <summary>Parses <paramref name="text"/> as the API server does (no surrounding spaces, no empty text); on failure
    /// <paramref name="error"/> says why in the API server's words.</summary>
    public static bool TryParse(string? text, out KubernetesQuantity quantity, out string? error)
    {
        quantity = default;
        error = null;
        if (string.IsNullOrEmpty(text) || text.Length > MaxLength)
        {
            error = FormatError;
            return false;
        }

        var pos = 0;
        var negative = text[0] == '-';
        if (text[0] is '-' or '+')
        {
            pos++;
        }

        while (pos < text.Length && text[pos] == '0')
        {
            pos++;
        }

        // Only a sign and zeros (also "-" or "+" alone): zero.
        if (pos == text.Length)
        {
            quantity = new KubernetesQuantity(BigInteger.Zero, QuantityFormat.DecimalSI);
            return true;
        }

        var whole = Digits(text, ref pos);
        var fraction = "";
        if (pos < text.Length && text[pos] == '.')
        {
            pos++;
            fraction = Digits(text, ref pos);
        }

        // The suffix: letters of the suffixes, then an optional signed exponent; anything after it is malformed.
        var suffixStart = pos;
        while (pos < text.Length && "eEinumkKMGTP".Contains(text[pos]))
        {
            pos++;
        }

        if (pos < text.Length && text[pos] is '-' or '+')
        {
            pos++;
        }

        Digits(text, ref pos);
        if (pos < text.Length)
        {
            error = FormatError;
            return false;
        }

        if (!Suffix(text[suffixStart..], out var binary, out var exponent, out var format))
        {
            error = SuffixError;
            return false;
        }

        var digits = BigInteger.Parse("0" + whole + fraction, NumberStyles.None, CultureInfo.InvariantCulture);
        if (!Magnitude(digits, fraction.Length, binary, exponent, out var nanos))
        {
            error = "the quantity is out of range";
            return false;
        }

        if (format == QuantityFormat.BinarySI && nanos > BinaryCap)
        {
            nanos = BinaryCap;
        }

        if (format == QuantityFormat.BinarySI && !nanos.IsZero && nanos < NanosPerUnit)
        {
            format = QuantityFormat.DecimalSI;
        }

        quantity = new KubernetesQuantity(negative ? -nanos : nanos, format);
        return true;
    }

    private static string Digits(string text, ref int pos)
    {
        var start = pos;
        while (pos < text.Length && char.IsAsciiDigit(text[pos]))
        {
            pos++;
        }

        return text[start..pos];
    }

    private static bool Suffix(string suffix, out bool binary, out int exponent, out QuantityFormat format)
    {
        binary = false;
        format = QuantityFormat.DecimalSI;
        (exponent, var known) = suffix switch
        {
            "" => (0, true),
            "n" => (-9, true),
            "u" => (-6, true),
            "m" => (-3, true),
            "k" => (3, true),
            "M" => (6, true),
            "G" => (9, true),
            "T" => (12, true),
            "P" => (15, true),
            "E" => (18, true),
            _ => (0, false),
        };
        if (known)
        {
            return true;
        }

        var power = Array.IndexOf(["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"], suffix);
        if (power >= 0)
        {
            binary = true;
            exponent = (power + 1) * 10;
            format = QuantityFormat.BinarySI;
            return true;
        }

        format = QuantityFormat.DecimalExponent;
        return suffix.Length > 1 && suffix[0] is 'e' or 'E'
               && int.TryParse(suffix.AsSpan(1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out exponent);
    }

    // |value| in nanos, rounded up: digits × 10^-fractionDigits × (2 or 10)^exponent × 10^9.
    private static bool Magnitude(BigInteger digits, int fractionDigits, bool binary, int exponent, out BigInteger nanos)
    {
        nanos = BigInteger.Zero;
        if (digits.IsZero)
        {
            return true;
        }

        var numerator = digits;
        var tens = 9 - fractionDigits;
        if (binary)
        {
            numerator <<= exponent;
        }
        else
        {
            tens += exponent;
        }

        if (tens > 60)
        {
            return false;
        }

        if (tens >= 0)
        {
            nanos = numerator * BigInteger.Pow(10, tens);
        }
        else if (-tens > MaxLength + 20)
        {
            nanos = BigInteger.One; // far below a nano: the smallest quantity
        }
        else
        {
            var divisor = BigInteger.Pow(10, -tens);
            nanos = BigInteger.DivRem(numerator, divisor, out var rest) + (rest.IsZero ? 0 : 1);
        }

        return nanos <= Largest;
    }

    /// <summary>The API server's canonical text: <c>1Gi</c>, <c>500m</c>, <c>1e3</c>, <c>0</c>.</summary>
    public override string ToString()
    {
        if (Nanos.IsZero)
        {
            return "0";
        }

        var magnitude = BigInteger.Abs(Nanos);
        var text = new StringBuilder(IsNegative ? "-" : "");
        var format = Format;
        if (format == QuantityFormat.BinarySI)
        {
            var whole = BigInteger.DivRem(magnitude, NanosPerUnit, out var fraction);
            if (whole < 1024 || !fraction.IsZero)
            {
                format = QuantityFormat.DecimalSI;
            }
            else
            {
                var power = 0;
                while (power < 6 && (whole % 1024).IsZero)
                {
                    whole /= 1024;
                    power++;
                }

                return text.Append(whole.ToString(CultureInfo.InvariantCulture))
                    .Append(power == 0 ? "" : new[] { "Ki", "Mi", "Gi", "Ti", "Pi", "Ei" }[power - 1]).ToString();
            }
        }

        var mantissa = magnitude;
        var exponent = -9;
        while ((mantissa % 10).IsZero)
        {
            mantissa /= 10;
            exponent++;
        }

        while (exponent % 3 != 0)
        {
            mantissa *= 10;
            exponent--;
        }

        text.Append(mantissa.ToString(CultureInfo.InvariantCulture));
        var suffix = format == QuantityFormat.DecimalExponent || exponent > 18
            ? exponent == 0 ? "" : "e" + exponent.ToString(CultureInfo.InvariantCulture)
            : exponent switch
            {
                -9 => "n", -6 => "u", -3 => "m", 0 => "", 3 => "k", 6 => "M", 9 => "G", 12 => "T", 15 => "P", _ => "E",
            };
        return text.Append(suffix).ToString();
    }

    public int CompareTo(KubernetesQuantity other) => Nanos.CompareTo(other.Nanos);

    /// <summary>Equal values are equal quantities, however they were written (<c>1Gi</c> = <c>1024Mi</c>).</summary>
    public bool Equals(KubernetesQuantity other) => Nanos == other.Nanos;

    public override bool Equals(object? obj) => obj is KubernetesQuantity other && Equals(other);

    public override int GetHashCode() => Nanos.GetHashCode();

    public static bool operator ==(KubernetesQuantity left, KubernetesQuantity right) => left.Equals(right);

    public static bool operator !=(KubernetesQuantity left, KubernetesQuantity right) => !left.Equals(right);

    public static bool operator <(KubernetesQuantity left, KubernetesQuantity right) => left.CompareTo(right) < 0;

    public static bool operator >(KubernetesQuantity left, KubernetesQuantity right) => left.CompareTo(right) > 0;

    public static bool operator <=(KubernetesQuantity left, KubernetesQuantity right) => left.CompareTo(right) <= 0;

    public static bool operator >=(KubernetesQuantity left, KubernetesQuantity right) => left.CompareTo(right) >= 0;
}
