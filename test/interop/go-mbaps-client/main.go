// go-mbaps-client: a thin command-line wrapper around github.com/simonvetter/modbus's stock `tcp+tls` client
// (Modbus/TCP Security), so the verigate test suite can drive a third-party Go implementation. It prints one
// JSON line: {"ok":true,"values":[...]} or {"ok":false,"error":"...","exception":N}.
package main

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/simonvetter/modbus"
)

type result struct {
	OK        bool     `json:"ok"`
	Values    []uint16 `json:"values,omitempty"`
	Error     string   `json:"error,omitempty"`
	Exception int      `json:"exception,omitempty"`
}

var exceptions = map[error]int{
	modbus.ErrIllegalFunction:          0x01,
	modbus.ErrIllegalDataAddress:       0x02,
	modbus.ErrIllegalDataValue:         0x03,
	modbus.ErrServerDeviceFailure:      0x04,
	modbus.ErrAcknowledge:              0x05,
	modbus.ErrServerDeviceBusy:         0x06,
	modbus.ErrMemoryParityError:        0x08,
	modbus.ErrGWPathUnavailable:        0x0a,
	modbus.ErrGWTargetFailedToRespond:  0x0b,
}

func main() {
	url := flag.String("url", "", "tcp+tls://host:port")
	cert := flag.String("cert", "", "client SVID (PEM chain)")
	key := flag.String("key", "", "client private key (PEM)")
	ca := flag.String("ca", "", "trust bundle (PEM)")
	unit := flag.Int("unit", 1, "unit id")
	op := flag.String("op", "read-holding", "read-holding | read-input | write-register | write-registers")
	addr := flag.Int("addr", 0, "0-based register address")
	count := flag.Int("count", 1, "registers to read")
	value := flag.Int("value", 0, "value to write")
	flag.Parse()
	out(run(*url, *cert, *key, *ca, *unit, *op, uint16(*addr), uint16(*count), uint16(*value)))
}

func run(url, cert, key, ca string, unit int, op string, addr, count, value uint16) result {
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return fail(fmt.Errorf("load key pair: %w", err))
	}
	pool, err := modbus.LoadCertPool(ca)
	if err != nil {
		return fail(fmt.Errorf("load bundle: %w", err))
	}
	client, err := modbus.NewClient(&modbus.ClientConfiguration{
		URL: url, TLSClientCert: &pair, TLSRootCAs: pool, Timeout: 5 * time.Second,
	})
	if err != nil {
		return fail(err)
	}
	if err = client.Open(); err != nil {
		return fail(fmt.Errorf("connect: %w", err))
	}
	defer client.Close()
	if err = client.SetUnitId(uint8(unit)); err != nil {
		return fail(err)
	}
	switch op {
	case "read-holding", "read-input":
		kind := modbus.HOLDING_REGISTER
		if op == "read-input" {
			kind = modbus.INPUT_REGISTER
		}
		regs, err := client.ReadRegisters(addr, count, kind)
		if err != nil {
			return fail(err)
		}
		return result{OK: true, Values: regs}
	case "write-register":
		if err := client.WriteRegister(addr, value); err != nil {
			return fail(err)
		}
		return result{OK: true}
	case "write-registers":
		values := make([]uint16, count)
		for i := range values {
			values[i] = value
		}
		if err := client.WriteRegisters(addr, values); err != nil {
			return fail(err)
		}
		return result{OK: true}
	}
	return fail(fmt.Errorf("unknown op %q", op))
}

func fail(err error) result {
	r := result{OK: false, Error: err.Error()}
	for e, code := range exceptions {
		if errors.Is(err, e) {
			r.Exception = code
		}
	}
	return r
}

func out(r result) {
	_ = json.NewEncoder(os.Stdout).Encode(r)
	if !r.OK {
		os.Exit(1)
	}
}
