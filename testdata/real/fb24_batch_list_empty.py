response = {
    "result": {
        "result": {"order0000000000": []},
        "result_error": [],
        "result_total": {"order0000000000": 0},
        "result_next": [],
        "result_time": {
            "order0000000000": {
                "start": 1654094027.205917,
                "finish": 1654094027.270924,
                "duration": 0.06500720977783203,
                "processing": 0.06493496894836426,
                "date_start": "2022-06-01T17:33:47+03:00",
                "date_finish": "2022-06-01T17:33:47+03:00",
                "operating": 0,
            }
        },
    },
    "time": {
        "start": 1654094027.096381,
        "finish": 1654094027.27095,
        "duration": 0.17456912994384766,
        "processing": 0.06515002250671387,
        "date_start": "2022-06-01T17:33:47+03:00",
        "date_finish": "2022-06-01T17:33:47+03:00",
        "operating": 0,
    },
}
