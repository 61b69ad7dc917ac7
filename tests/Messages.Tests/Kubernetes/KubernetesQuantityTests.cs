using Scheduler.Messages.Kubernetes;

namespace Scheduler.Messages.Tests.Kubernetes;

/// <summary>
/// Quantities read as the API server reads them. The expected canonical texts are apimachinery's (its quantity tests and
/// <c>kubectl get -o json</c> of what was created): whatever the config, a job variable or a pod spec says, the runner and
/// the embedded cluster agree with a real cluster on what it means.
/// </summary>
public sealed class KubernetesQuantityTests
{
    public static TheoryData<string, string, QuantityFormat> Canonical() => new()
    {
        { "0", "0", QuantityFormat.DecimalSI },
        { "-0", "0", QuantityFormat.DecimalSI },
        { "+0", "0", QuantityFormat.DecimalSI },
        { "000", "0", QuantityFormat.DecimalSI },
        { "0Ki", "0", QuantityFormat.BinarySI },
        { "-", "0", QuantityFormat.DecimalSI }, // a sign alone is zero to apimachinery
        { ".", "0", QuantityFormat.DecimalSI },
        { "1", "1", QuantityFormat.DecimalSI },
        { "+5", "5", QuantityFormat.DecimalSI },
        { "0.5", "500m", QuantityFormat.DecimalSI },
        { ".001", "1m", QuantityFormat.DecimalSI },
        { "1.", "1", QuantityFormat.DecimalSI },
        { "100m", "100m", QuantityFormat.DecimalSI },
        { "1000m", "1", QuantityFormat.DecimalSI },
        { "1500m", "1500m", QuantityFormat.DecimalSI },
        { "5n", "5n", QuantityFormat.DecimalSI },
        { "3.001n", "4n", QuantityFormat.DecimalSI }, // rounded up to a whole nano
        { "0.9n", "1n", QuantityFormat.DecimalSI },
        { "0.0000000001", "1n", QuantityFormat.DecimalSI },
        { "50k", "50k", QuantityFormat.DecimalSI },
        { "1000M", "1G", QuantityFormat.DecimalSI },
        { "1.G", "1G", QuantityFormat.DecimalSI },
        { "100.035k", "100035", QuantityFormat.DecimalSI },
        { "10.035M", "10035k", QuantityFormat.DecimalSI },
        { "12E", "12E", QuantityFormat.DecimalSI },
        { "1000E", "1e21", QuantityFormat.DecimalSI }, // no SI suffix beyond E
        { "1e3", "1e3", QuantityFormat.DecimalExponent },
        { "1E6", "1e6", QuantityFormat.DecimalExponent },
        { "1.3E+6", "1300e3", QuantityFormat.DecimalExponent },
        { "1.2e3", "1200", QuantityFormat.DecimalExponent },
        { "0.5e-1", "50e-3", QuantityFormat.DecimalExponent },
        { "1.1E-9", "2e-9", QuantityFormat.DecimalExponent },
        { "1Ki", "1Ki", QuantityFormat.BinarySI },
        { "8Ki", "8Ki", QuantityFormat.BinarySI },
        { "1024Ki", "1Mi", QuantityFormat.BinarySI },
        { "1024Mi", "1Gi", QuantityFormat.BinarySI },
        { "1.5Gi", "1536Mi", QuantityFormat.BinarySI },
        { "0.5Mi", "512Ki", QuantityFormat.BinarySI },
        { "1025Ki", "1025Ki", QuantityFormat.BinarySI },
        { "100.035Ki", "102435840m", QuantityFormat.BinarySI }, // not a whole number: written as decimal
        { ".001Ki", "1024m", QuantityFormat.BinarySI },
        { ".000000000001Ki", "2n", QuantityFormat.DecimalSI }, // below 1: becomes decimal
        { "9Ei", "9223372036854775807", QuantityFormat.BinarySI }, // capped at 2^63-1
        { "Mi", "0", QuantityFormat.BinarySI }, // no number is zero to apimachinery
        { "-1Gi", "-1Gi", QuantityFormat.BinarySI },
        { "-1.5Gi", "-1536Mi", QuantityFormat.BinarySI },
        { "-500m", "-500m", QuantityFormat.DecimalSI },
        { "-1e3", "-1e3", QuantityFormat.DecimalExponent },
    };

    [Theory]
    [MemberData(nameof(Canonical))]
    public void Reads_as_the_api_server_and_writes_its_canonical_form(string text, string canonical, QuantityFormat format)
    {
        Assert.True(KubernetesQuantity.TryParse(text, out var quantity, out var error), error);

        Assert.Equal(canonical, quantity.ToString());
        Assert.Equal(format, quantity.Format);
        // The canonical text reads back as the same value.
        Assert.Equal(quantity, KubernetesQuantity.Parse(canonical));
    }

    public static TheoryData<string?, string> Malformed() => new()
    {
        { null, KubernetesQuantity.FormatError },
        { "", KubernetesQuantity.FormatError },
        { " 1", KubernetesQuantity.FormatError },
        { "1 ", KubernetesQuantity.FormatError },
        { "1 Gi", KubernetesQuantity.FormatError },
        { "1.1.M", KubernetesQuantity.FormatError },
        { "1+1.0M", KubernetesQuantity.FormatError },
        { "0.1am", KubernetesQuantity.FormatError },
        { "aoeu", KubernetesQuantity.FormatError },
        { "lots", KubernetesQuantity.FormatError },
        { "1GB", KubernetesQuantity.FormatError },
        { "0.1mi", KubernetesQuantity.SuffixError },
        { ".5i", KubernetesQuantity.SuffixError },
        { "1i", KubernetesQuantity.SuffixError },
        { "-3.01i", KubernetesQuantity.SuffixError },
        { "-3.01e-", KubernetesQuantity.SuffixError },
        { "1e", KubernetesQuantity.SuffixError },
        { "1K", KubernetesQuantity.SuffixError },
        { "1gi", KubernetesQuantity.FormatError },
        { "1kk", KubernetesQuantity.SuffixError },
        { "1Ki1", KubernetesQuantity.SuffixError },
        // Beyond what apimachinery refuses: values no resource has, so that hostile text costs nothing.
        { "1e99999999999", KubernetesQuantity.SuffixError },
        { "1e40", "the quantity is out of range" },
        { "99999999999999999999999999999", "the quantity is out of range" },
        { new string('1', 300), KubernetesQuantity.FormatError },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Refuses_what_the_api_server_refuses(string? text, string error)
    {
        Assert.False(KubernetesQuantity.TryParse(text, out _, out var why));
        Assert.Equal(error, why);
        Assert.Throws<FormatException>(() => KubernetesQuantity.Parse(text!));
    }

    [Theory]
    [InlineData("-0", false)]
    [InlineData("-", false)]
    [InlineData("-0.0Gi", false)]
    [InlineData("-1n", true)]
    [InlineData("-0.0000000001", true)] // rounded away from zero, still negative
    [InlineData("1", false)]
    public void Negative_means_below_zero(string text, bool negative) => Assert.Equal(negative, KubernetesQuantity.Parse(text).IsNegative);

    [Theory]
    [InlineData("1Gi", "1024Mi", 0)]
    [InlineData("1e3", "1k", 0)]
    [InlineData("1", "1000m", 0)]
    [InlineData("-0", "0", 0)]
    [InlineData("0.5", "501m", -1)]
    [InlineData("10000T", "100Gi", 1)]
    [InlineData("2", "1.5Gi", -1)]
    public void Compares_values_not_texts(string left, string right, int sign) =>
        Assert.Equal(sign, Math.Sign(KubernetesQuantity.Parse(left).CompareTo(KubernetesQuantity.Parse(right))));

    [Theory]
    [InlineData("100m", "0.1")]
    [InlineData("1.5Gi", "1610612736")]
    [InlineData("9Ei", "9223372036854775807")]
    [InlineData("1e24", "1000000000000000000000000")]
    [InlineData("-2.5", "-2.5")]
    public void Converts_to_decimal(string text, string value) =>
        Assert.Equal(decimal.Parse(value, System.Globalization.CultureInfo.InvariantCulture), KubernetesQuantity.Parse(text).ToDecimal());
}
