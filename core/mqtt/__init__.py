"""The firmware's MQTT + UDP transport: MQTT 3.1.1 for JSON control (kept up while the speaker is idle), AES-CTR UDP
for audio. `link` is the transport seam; `endpoint` the MQTT listener; `udp` the audio socket; `device_link` the
`MqttLink` of one connection; `credentials` the OTA `mqtt` object and its check; `codec` the MQTT packets."""
